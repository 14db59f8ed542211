"""Cheapest package: the least public cost that reaches each target with P >= 0.5 and P >= 0.9.

A *package* sets several levers at once, intensities and dates together. The search space is the
declarative table :data:`SEARCH_SPACE`: one :class:`Dimension` per lever, from its cheapest
setting (``u = 0``: no public money, a rule kept, a campaign never run) to its strongest
(``u = 1``), on a grid (a week for dates). Adding a lever to the search is one line there (and
one in :data:`experiments.costs.LEVER_COSTS` saying how it costs).

Every candidate package is run on the same ``R`` replicates (the experiment's first ones: a
parameter set of the calibration and a seed each), so candidates are compared on common random
numbers. For each candidate:

* ``cost``: the mean net public cost over the replicates (:mod:`experiments.costs`, 15 Sep 2018
  to 31 Dec 2021);
* ``P(hit y)``: the share of replicates whose acts in year ``y`` reach the target (the chance
  constraint ``P(hit) >= q`` is read on these very replicates).

The search is NSGA-II (``platypus``, the optimiser EMA Workbench builds on) over the objectives
(minimise cost, maximise P(hit 2019), P(hit 2020), P(hit 2021)): one population serves the three
targets and both levels. The first population is a Latin hypercube plus the two corners (nothing
and everything). Each generation is one batch of runs for the executor; every run is saved the
moment it finishes (``runs/cp-<hash>/...``) and ``cheapest.json`` records each generation, so an
interrupted search resumes: the same command replays the same generations (one seed) and skips
every run already on disk. :func:`analyse` recomputes every answer from the runs on disk: for
each target and level the cheapest evaluated package meeting the constraint, and the cost–P(hit)
Pareto front of every package evaluated.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from infra.atomic import atomic_write_json

from . import costs
from .outcomes import hit_probability, interval, summary_table
from .runner import Design, ExperimentError, RunSpec, execute, read_design, replicate_specs

#: The file recording the search and its evaluated packages.
CP_FILE = "cheapest.json"
#: The probabilities the chance constraint is computed for.
LEVELS = (0.5, 0.9)
#: Latest date a dated lever is searched at (the end of the targets' period).
LATEST = dt.date(2021, 12, 31)
#: Spawn key of the search's random stream (apart from replicates, ensemble draws, sensitivity).
_CP_KEY = 2**31 + 2


@dataclass(frozen=True)
class Dimension:
    """One lever of the search: its setting at ``u = 0`` (cheapest) and ``u = 1`` (strongest).

    ``cheap = None`` for an optional date: ``u = 0`` is *never* (a rule kept, full coverage never),
    ``u > 0`` a date from :data:`LATEST` back to ``strong``. ``step`` is the grid (days for dates,
    snapped to the model's week starts). ``requires``: a lever whose cheapest setting makes this
    one irrelevant (a campaign's date when there is no campaign), set to its baseline then.
    """

    lever: str
    cheap: Any
    strong: Any
    step: float
    requires: str | None = None

    @property
    def kind(self) -> str:
        """``float``, ``int``, ``date`` or ``optional date``, from the lever's own spec."""
        from model import Levers

        spec = next((s for s in Levers.specs() if s["name"] == self.lever), None)
        if spec is None:
            raise ExperimentError(f"search space: {self.lever!r} is not a lever")
        kind = spec["type"]
        return {"dt.date|None": "optional date", "dt.date": "date"}.get(kind, kind)

    def value(self, u: float) -> Any:
        """The lever's value at ``u`` in [0, 1], on the grid."""
        from model.params import START_DATE

        u = min(1.0, max(0.0, float(u)))
        kind = self.kind
        if kind in ("date", "optional date"):
            if self.cheap is None and u <= 0:
                return None
            weak = LATEST if self.cheap is None else _date(self.cheap)
            strong = _date(self.strong)
            day = weak + dt.timedelta(days=round((strong - weak).days * u))
            week = round((day - START_DATE).days / self.step) * int(self.step)
            return min(
                max(START_DATE + dt.timedelta(days=week), min(weak, strong)), max(weak, strong)
            )
        x = float(self.cheap) + (float(self.strong) - float(self.cheap)) * u
        x = round(round(x / self.step) * self.step, 9)
        return int(x) if kind == "int" else x

    def position(self, value: Any) -> float:
        """The ``u`` of a value on this dimension (the inverse of :meth:`value`, up to the grid)."""
        if self.kind in ("date", "optional date"):
            if value is None:
                return 0.0
            weak = LATEST if self.cheap is None else _date(self.cheap)
            span = (_date(self.strong) - weak).days
            return float(np.clip((_date(value) - weak).days / span, 0.0, 1.0)) if span else 0.0
        span = float(self.strong) - float(self.cheap)
        return float(np.clip((float(value) - float(self.cheap)) / span, 0.0, 1.0)) if span else 0.0


def _date(v: Any) -> dt.date:
    return v if isinstance(v, dt.date) else dt.date.fromisoformat(str(v))


#: The decision variables: what a package may set, from its cheapest to its strongest setting.
#: Levers the public does not decide (platform launches and prices) and levers no source prices
#: (``digital_inclusion``) are left out; rules cost nothing directly but change the acts paid.
SEARCH_SPACE: tuple[Dimension, ...] = (
    Dimension("known_patient_rule_until", None, dt.date(2018, 9, 15), 7),
    Dimension("pathway_rule_until", None, dt.date(2018, 9, 15), 7),
    Dimension("coverage_rate", 0.7, 1.0, 0.01),
    Dimension("full_coverage_from", None, dt.date(2018, 9, 15), 7),
    Dimension("equipment_subsidy_eur", 0.0, 3000.0, 25.0),
    Dimension("awareness_campaign", 0.0, 2.0, 0.05),
    Dimension(
        "awareness_campaign_from", LATEST, dt.date(2018, 9, 15), 7, requires="awareness_campaign"
    ),
    Dimension("pharmacy_points", 0, 10000, 100),
    Dimension("pharmacy_points_from", LATEST, dt.date(2018, 9, 15), 7, requires="pharmacy_points"),
    Dimension("platforms_free_from", None, dt.date(2018, 9, 15), 7),
    Dimension("target_deserts", 0.0, 1.0, 0.05),
)
DIMENSIONS = {d.lever: d for d in SEARCH_SPACE}


def search_space(names: Sequence[str] | None = None) -> list[Dimension]:
    """The searched dimensions, by lever name (all of :data:`SEARCH_SPACE` by default).

    A dimension whose lever is unpriced (:data:`experiments.costs.LEVER_COSTS`) is refused: the
    search would take it for free.
    """
    dims = list(SEARCH_SPACE) if not names else []
    unknown = [n for n in names or () if n not in DIMENSIONS]
    if unknown:
        raise ExperimentError(
            f"--cp-levers: unknown lever(s) {unknown}; searchable: {sorted(DIMENSIONS)}"
        )
    dims = dims or [DIMENSIONS[n] for n in names]
    for d in dims:
        if costs.cost_item(d.lever) == "unpriced":
            raise ExperimentError(f"search space: {d.lever} has no priced cost; leave it out")
        d.kind  # noqa: B018  (a lever of the model)
    return dims


# --------------------------------------------------------------------------------------------
# packages


def package_levers(dims: Sequence[Dimension], u: Sequence[float]) -> dict[str, Any]:
    """The full lever set of the package at ``u`` (every other lever at its baseline)."""
    from model import Levers

    base = Levers()
    values = {d.lever: d.value(x) for d, x in zip(dims, u, strict=True)}
    by_lever = {d.lever: d for d in dims}
    for d in dims:
        if d.requires and d.requires in by_lever:
            if values[d.requires] == by_lever[d.requires].value(0.0):
                values[d.lever] = getattr(base, d.lever)
    return base.replace(**values).to_dict()


def package_label(levers: dict[str, Any], prefix: str = "cp") -> str:
    """The run label of a package: ``cp-`` and a hash of its levers (identical packages, one)."""
    text = json.dumps(levers, sort_keys=True, default=str)
    return f"{prefix}-" + hashlib.sha256(text.encode()).hexdigest()[:12]


def package_text(levers: dict[str, Any]) -> str:
    """The levers a package changes from the baseline, in words (``"none"`` for the baseline)."""
    from model import Levers

    base = Levers().to_dict()
    parts = []
    for name, value in levers.items():
        if str(value) == str(base.get(name)):
            continue
        if isinstance(value, float):
            shown = f"{value:,.0f}" if abs(value) >= 100 else f"{value:g}"
        elif isinstance(value, int) and not isinstance(value, bool):
            shown = f"{value:,}"
        else:
            shown = "never" if value is None else str(value)
        parts.append(f"{name} = {shown}")
    return ", ".join(parts) or "none (the baseline)"


def _specs(levers: dict[str, Any], design: Design, plan: Sequence[dict]) -> list[RunSpec]:
    return replicate_specs(package_label(levers), levers, design, plan, tables=("weekly",))


def score(
    summary: pd.DataFrame, targets: dict[int, float], n_runs: int
) -> dict[str, dict[str, Any]]:
    """Per label with all ``n_runs`` runs on disk: net cost (mean, 5-95%), gross cost, acts and
    P(hit) per target year with its 90% Jeffreys interval."""
    out: dict[str, dict[str, Any]] = {}
    if summary.empty:
        return out
    for label, part in summary.groupby("label", sort=False):
        if len(part) != n_runs:
            continue
        net = interval(part["cost_net"])
        row: dict[str, Any] = {
            "cost": net["mean"],
            "cost_low": net["low"],
            "cost_high": net["high"],
            "cost_gross": float(part["cost_gross"].mean()),
        }
        for year, target in targets.items():
            column = f"acts_{year}"
            if column in part:
                hit = hit_probability(part[column], target)
                row[f"acts_{year}"] = float(part[column].mean())
                row[f"p_{year}"] = hit["p"]
                row[f"p_{year}_low"] = hit["p_low"]
                row[f"p_{year}_high"] = hit["p_high"]
        out[str(label)] = row
    return out


# --------------------------------------------------------------------------------------------
# the search


@contextlib.contextmanager
def _seeded(seed: int):
    """platypus draws from Python's global ``random``: seed it, and restore it afterwards."""
    state = random.getstate()
    random.seed(seed)
    try:
        yield
    finally:
        random.setstate(state)


class _Search:
    """The state of one search: the folder, the replicates, the packages evaluated so far."""

    def __init__(self, out, design, plan, dims, targets, executor, progress):
        self.out, self.design, self.plan, self.dims = out, design, plan, dims
        self.targets, self.executor, self.progress = targets, executor, progress
        self.evaluated: dict[str, dict[str, Any]] = {}  # label -> {"u": [...], "generation": g}
        self.scores: dict[str, dict[str, Any]] = {}
        self.generation = 0

    def evaluate(self, points: Sequence[Sequence[float]]) -> list[str]:
        """Run every package not yet scored (one batch) and return the labels of ``points``."""
        labels, specs = [], []
        for u in points:
            levers = package_levers(self.dims, u)
            label = package_label(levers)
            labels.append(label)
            if label not in self.evaluated:
                canonical = [round(d.position(levers[d.lever]), 6) for d in self.dims]
                self.evaluated[label] = {"u": canonical, "generation": self.generation}
                specs += _specs(levers, self.design, self.plan)
        if specs:
            name = f"cheapest package {self.generation}" if self.progress else False
            execute(specs, self.out, self.executor, progress=name)
        todo = [lab for lab in dict.fromkeys(labels) if lab not in self.scores]
        if todo:
            summary = summary_table(self.out, self.plan, todo)
            self.scores.update(score(summary, self.targets, len(self.plan)))
        self.generation += 1
        return labels

    def objectives(self, label: str) -> list[float]:
        s = self.scores[label]
        return [s["cost"], *[s[f"p_{y}"] for y in self.targets]]


def run_cheapest(
    out: str | Path,
    *,
    levers: Sequence[str] | None = None,
    replicates: int | None = None,
    evaluations: int = 48,
    population: int = 16,
    seed: int | None = None,
    targets: dict[int, float] | None = None,
    levels: Sequence[float] = LEVELS,
    executor=None,
    progress: bool = True,
) -> dict[str, Any]:
    """Search the cheapest packages in the experiment folder ``out`` (resuming).

    ``replicates``: the experiment's first R replicates (default: all of them), the same for
    every package; ``evaluations``: packages evaluated in all (the first ``population`` a Latin
    hypercube with the two corners); ``seed``: of the search (default: the experiment's root
    seed). Returns the record written to ``cheapest.json``.
    """
    import platypus
    from scipy.stats import qmc

    from calibration.targets import annual_targets

    out = Path(out)
    design = read_design(out)
    if design is None:
        raise ExperimentError(f"{out}: no experiment here; run the scenarios first")
    dims = search_space(levers)
    plan = design.plan[: replicates or len(design.plan)]
    targets = targets or annual_targets()
    years = [y for y in sorted(targets) if pd.Timestamp(design.end).date() >= dt.date(y, 12, 31)]
    if not years:
        raise ExperimentError(f"--cheapest: the runs end on {design.end}, before every target")
    targets = {y: float(targets[y]) for y in years}
    population = max(4, min(population, evaluations))
    seed = design.root_seed if seed is None else seed
    search = _Search(out, design, plan, dims, targets, executor, progress)

    def record() -> dict[str, Any]:
        data = {
            "replicates": len(plan),
            "plan": plan,
            "levels": list(levels),
            "targets": {str(y): v for y, v in targets.items()},
            "evaluations": evaluations,
            "population": population,
            "seed": seed,
            "dimensions": [
                {"lever": d.lever, "cheap": str(d.cheap), "strong": str(d.strong), "step": d.step}
                for d in dims
            ],
            "evaluated": search.evaluated,
        }
        atomic_write_json(out / CP_FILE, data)
        return data

    problem = platypus.Problem(len(dims), 1 + len(years))
    problem.types[:] = [platypus.Real(0.0, 1.0) for _ in dims]
    problem.directions[:] = [platypus.Direction.MINIMIZE] + [platypus.Direction.MAXIMIZE] * len(
        years
    )

    def evaluate(solution) -> None:
        solution.objectives[:] = search.objectives(package_label(_levers_of(solution)))

    def _levers_of(solution) -> dict[str, Any]:
        return package_levers(dims, solution.variables)

    problem.evaluate = evaluate

    class BatchEvaluator(platypus.Evaluator):
        """One generation = one batch of runs; then each solution reads its scores."""

        def evaluate_all(self, jobs, **kwargs):
            search.evaluate([job.solution.variables for job in jobs])
            record()
            for job in jobs:
                job.run()
            return jobs

    sampler = qmc.LatinHypercube(
        d=len(dims), seed=np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_CP_KEY,)))
    )
    first = [[0.0] * len(dims), [1.0] * len(dims)] + sampler.random(population - 2).tolist()
    injected = []
    for u in first:
        s = platypus.Solution(problem)
        s.variables[:] = [float(x) for x in u]
        injected.append(s)
    with _seeded(seed):
        algorithm = platypus.NSGAII(
            problem,
            population_size=population,
            generator=platypus.InjectedPopulation(injected[::-1]),  # popped from the end
            evaluator=BatchEvaluator(),
            log_frequency=None,
        )
        algorithm.run(max(evaluations, population))
    return record()


# --------------------------------------------------------------------------------------------
# the answers, from disk


def _record(out: Path) -> dict[str, Any]:
    path = out / CP_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def pareto_front(points: pd.DataFrame, cost: str, p: str) -> pd.DataFrame:
    """The packages no other beats on both cost (lower) and P(hit) (higher), by cost."""
    ordered = points.sort_values([cost, p], ascending=[True, False])
    best, keep = -math.inf, []
    for index, row in ordered.iterrows():
        if row[p] > best + 1e-12:
            keep.append(index)
            best = row[p]
    return ordered.loc[keep]


def analyse(out: str | Path) -> dict[str, Any]:
    """Every answer of the search, recomputed from ``cheapest.json`` and the runs on disk.

    ``archive``: one row per package evaluated (label, generation, package in words, levers,
    cost and P(hit) per target); ``answers``: per target and level, the cheapest package whose
    P(hit) on the replicates reaches the level; ``fronts``: per target, the cost–P(hit) Pareto
    front; ``baseline``: the experiment's baseline on the same replicates, if it is on disk.
    """
    out = Path(out)
    record = _record(out)
    if not record:
        return {}
    plan = record["plan"]
    targets = {int(y): float(v) for y, v in record["targets"].items()}
    from model import Levers

    labels = list(record["evaluated"])
    summary = summary_table(out, plan, labels)
    scores = score(summary, targets, len(plan))
    meta_levers = _levers_on_disk(out, plan, labels)
    rows = []
    for label, info in record["evaluated"].items():
        if label not in scores:
            continue
        levers = meta_levers.get(label) or Levers().to_dict()
        rows.append(
            {
                "label": label,
                "generation": info["generation"],
                "package": package_text(levers),
                "levers": levers,
                **scores[label],
            }
        )
    archive = pd.DataFrame(rows)
    answers = []
    fronts = {}
    for year, target in targets.items():
        column = f"p_{year}"
        if archive.empty or column not in archive:
            continue
        fronts[year] = pareto_front(archive, "cost", column)
        for level in record["levels"]:
            ok = archive[archive[column] >= level - 1e-9].sort_values("cost")
            row = {"year": year, "target": target, "level": level, "candidates": len(archive)}
            if ok.empty:
                best = archive.sort_values([column, "cost"], ascending=[False, True]).iloc[0]
                row.update({"found": False, "best_p": best[column]})
            else:
                row.update({"found": True, **ok.iloc[0].to_dict()})
            answers.append(row)
    design = read_design(out)
    baseline = {}
    if design is not None and "baseline" in design.scenarios:
        base = score(summary_table(out, plan, ["baseline"]), targets, len(plan))
        baseline = base.get("baseline", {})
    return {
        "record": record,
        "archive": archive,
        "answers": pd.DataFrame(answers),
        "fronts": fronts,
        "baseline": baseline,
        "targets": targets,
    }


def _levers_on_disk(out: Path, plan: Sequence[dict], labels: Sequence[str]) -> dict[str, dict]:
    """The levers each package's runs were made with (from the first replicate's metadata)."""
    from .runner import run_dir

    found = {}
    for label in labels:
        meta = run_dir(out, label, plan[0]["param_id"], plan[0]["seed"]) / "metadata.json"
        if meta.is_file():
            found[label] = json.loads(meta.read_text(encoding="utf-8"))["levers"]
    return found


def front_figure(result: dict[str, Any]):
    """Cost against P(hit) per target: every package evaluated, the Pareto front, the cheapest
    packages at each level and the baseline."""
    from matplotlib.figure import Figure

    targets = result["targets"]
    archive = result["archive"]
    fig = Figure(figsize=(4.2 * max(1, len(targets)), 4.0), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, max(1, len(targets)), sharey=True))
    levels = result["record"]["levels"]
    for ax, (year, target) in zip(axes, targets.items(), strict=False):
        column = f"p_{year}"
        ax.scatter(archive["cost"] / 1e6, archive[column], s=12, color="0.6", label="evaluated")
        front = result["fronts"].get(year)
        if front is not None and len(front):
            ax.step(
                front["cost"] / 1e6,
                front[column],
                where="post",
                color="tab:blue",
                lw=1.5,
                marker="o",
                ms=4,
                label="Pareto front",
            )
        answers = result["answers"]
        for level, color in zip(levels, ("tab:orange", "tab:red"), strict=False):
            hit = answers[(answers["year"] == year) & (answers["level"] == level)]
            if len(hit) and hit.iloc[0]["found"]:
                r = hit.iloc[0]
                ax.errorbar(
                    [r["cost"] / 1e6],
                    [r[column]],
                    xerr=[
                        [(r["cost"] - r["cost_low"]) / 1e6],
                        [(r["cost_high"] - r["cost"]) / 1e6],
                    ],
                    fmt="*",
                    ms=12,
                    color=color,
                    label=f"cheapest, P ≥ {level:g}",
                )
            ax.axhline(level, color=color, ls=":", lw=1)
        base = result.get("baseline") or {}
        if column in base:
            ax.plot([base["cost"] / 1e6], [base[column]], "kD", ms=6, label="baseline")
        ax.set_xscale("symlog", linthresh=1.0)
        ax.set_xlabel("net public cost, million EUR (symlog)")
        ax.set_title(f"{year} (target {target:,.0f})", fontsize=10)
        ax.set_ylim(-0.03, 1.03)
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel(f"P(hit) over {result['record']['replicates']} replicates")
    handles = {}
    for ax in axes:
        for handle, name in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(name, handle)
    fig.legend(
        list(handles.values()), list(handles), loc="outside lower center", ncols=6, fontsize=8
    )
    fig.suptitle(
        "Cheapest packages: net public cost (15 Sep 2018 – 31 Dec 2021) against the chance of "
        "hitting each target",
        fontsize=10,
    )
    return fig
