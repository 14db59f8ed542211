"""The experiment runner: scenarios × replicates, each run saved to disk the moment it finishes.

Design (EMA Workbench's vocabulary): an *experiment* is a set of scenarios (lever settings) crossed
with R *replicates*; replicate ``r`` pairs one parameter set drawn from the calibration's posterior
(``calibration/posterior.csv``: weighted draws, so hit probabilities integrate the parameter
uncertainty; the old ``ensemble.csv`` only when there is no posterior) with one seed derived from
the root seed by numpy ``SeedSequence``. Every scenario meets the same replicates, so scenario
effects are paired differences.

Where the work happens is the executor's business (``infra.execution``: this process, a local
process pool, a Dask cluster). Workers only compute: :func:`run_one` takes a small picklable
:class:`RunSpec` and returns the frames. The coordinator (the calling process) writes each run
atomically to ``<out>/runs/<label>/<param_id>/seed-<seed>/`` — keyed by scenario, parameter set
and seed, never by worker or order — and skips runs already there, so an interrupted experiment
resumes where it stopped. Frames are dropped once written, and runs are submitted in bounded
batches, so memory does not grow with the number of runs; every outcome is computed from disk.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from calibration.targets import file_sha256
from infra.atomic import atomic_dir, atomic_to_parquet, atomic_write_json
from infra.provenance import git, package_versions

#: Repository root.
ROOT = Path(__file__).resolve().parents[1]
#: Default output folder of ``telesim experiment``.
DEFAULT_OUT = ROOT / "results" / "experiments"
#: The calibration's posterior: a row per particle, a column per uncertainty, ``weight``, ``loss``.
POSTERIOR_CSV = ROOT / "calibration" / "posterior.csv"
#: The calibration's record (read for the posterior's date and checksum).
CALIBRATED_JSON = ROOT / "calibration" / "calibrated.json"
#: The ensemble of earlier calibrations (a column per uncertainty, plus ``loss``): the fallback.
ENSEMBLE_CSV = ROOT / "calibration" / "ensemble.csv"
#: Root seed of the replicates unless ``--root-seed`` says otherwise (the first day of the study).
DEFAULT_ROOT_SEED = 20180915
#: The tables of ``simulate(detail=True)`` saved per run.
TABLES = ("weekly", "by_region", "by_platform", "by_age")
#: Version of the on-disk layout (bumped if it changes incompatibly).
LAYOUT_VERSION = 1
#: Spawn key of the stream that draws the parameter sets (far from the replicates' keys 0..R-1).
_PARAM_DRAW_KEY = 2**31


class ExperimentError(ValueError):
    """An experiment cannot run as asked (conflicting results on disk, bad settings)."""


# --------------------------------------------------------------------------------------------
# parameter sets and replicates


@dataclass(frozen=True)
class ParamSet:
    """One set of uncertainty values with a content-derived id (row and hash of the values)."""

    id: str
    values: dict[str, Any]
    loss: float | None = None
    weight: float | None = None  # posterior weight (None: sets of equal standing)


def _values_hash(values: dict[str, Any]) -> str:
    text = json.dumps(values, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def load_parameter_sets(source: str | Path = "posterior") -> tuple[list[ParamSet], str]:
    """The parameter sets replicates draw from, and a sentence saying where they came from.

    ``source``: ``"posterior"`` (``calibration/posterior.csv``, weighted; without it the ensemble,
    as for ``"ensemble"``, which the note says), ``"ensemble"`` (``calibration/ensemble.csv`` if
    present, else the single best set, which the note says), ``"best"`` (the single set
    :func:`model.best_uncertainties` gives), or the path of a CSV (weighted if it has a ``weight``
    column). Ids are ``p<row>-<hash>`` (posterior), ``e<row>-<hash>`` / ``best-<hash>``: a changed
    calibration gives new ids, so runs on disk are never silently reused for other values.
    """
    from model import best_uncertainties

    source = str(source)
    if source == "posterior":
        if POSTERIOR_CSV.is_file():
            return _read_sets(POSTERIOR_CSV, "p", _posterior_note(POSTERIOR_CSV))
        sets, note = load_parameter_sets("ensemble")
        return sets, f"{note} (no posterior at {_rel_root(POSTERIOR_CSV)})"
    if source == "best" or (source == "ensemble" and not ENSEMBLE_CSV.is_file()):
        unc, where = best_uncertainties()
        values = unc.to_dict()
        note = f"the single best parameter set ({where})"
        if source == "ensemble":
            note += f"; no ensemble at {ENSEMBLE_CSV.relative_to(ROOT)}, so no parameter spread"
        return [ParamSet(f"best-{_values_hash(values)}", values)], note
    path = ENSEMBLE_CSV if source == "ensemble" else Path(source)
    sets, note = _read_sets(path, "e", None)
    return sets, note


def _posterior_note(path: Path) -> str:
    """Which posterior: its checksum and the date of the calibration that wrote it."""
    sha = file_sha256(path)
    when = None
    try:
        record = json.loads(CALIBRATED_JSON.read_text(encoding="utf-8"))
        post = record.get("posterior", {})
        if post.get("sha256") == sha:
            when = f"calibration of {record.get('date')}"
            if post.get("stage"):  # which stages' parameters vary across its rows
                when = f"stage {post['stage']} posterior, {when}"
    except (OSError, ValueError, AttributeError):
        pass
    if when is None:
        mtime = dt.datetime.fromtimestamp(Path(path).stat().st_mtime, dt.UTC).date()
        when = f"file dated {mtime.isoformat()}, not the one calibrated.json records"
    return f"the calibration posterior {_rel_root(path)} (sha256 {sha[:12]}, {when})"


def _rel_root(path: Path) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _read_sets(path: Path, prefix: str, note: str | None) -> tuple[list[ParamSet], str]:
    from model import Uncertainties

    try:
        table = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise ExperimentError(f"--ensemble: cannot read {path}: {exc}") from None
    names = [f.name for f in dataclasses.fields(Uncertainties)]
    columns = [c for c in table.columns if c in names]
    if not columns or table.empty:
        raise ExperimentError(f"--ensemble: {path} has no rows or no uncertainty columns")
    weighted = "weight" in table.columns
    if weighted:
        w = pd.to_numeric(table["weight"], errors="coerce")
        if w.isna().any() or (w < 0).any() or not w.sum() > 0:
            raise ExperimentError(
                f"--ensemble: {path}: column weight must hold non-negative numbers, not all zero"
            )
    if note is None:
        note = f"the parameter sets of {_rel_root(path)} (sha256 {file_sha256(path)[:12]}" + (
            ", weighted)" if weighted else ")"
        )
    sets = []
    for row, rec in enumerate(table.to_dict("records")):
        given = {c: _plain(rec[c]) for c in columns if not _missing(rec[c])}
        where = f"{path} row {row}"
        try:
            values = Uncertainties.from_dict(given, where=where).to_dict()
            loss = float(rec["loss"]) if "loss" in rec and not _missing(rec["loss"]) else None
            weight = float(rec["weight"]) if weighted else None
            if weight is not None and not (math.isfinite(weight) and weight >= 0):
                raise ValueError(f"weight {weight!r} is not a finite number >= 0")
        except ValueError as exc:
            text = str(exc) if str(exc).startswith(where) else f"{where}: {exc}"
            raise ExperimentError(f"--ensemble: {text}") from None
        sets.append(ParamSet(f"{prefix}{row:03d}-{_values_hash(values)}", values, loss, weight))
    return sets, f"{note}, {len(sets)} sets"


def weight_or_one(w: float | None) -> float:
    """A set's weight in a draw: its posterior weight, or 1 for sets of equal standing."""
    return 1.0 if w is None else float(w)


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def draw_parameter_sets(
    param_sets: dict[str, dict[str, Any]], n: int, rng: np.random.Generator
) -> list[str]:
    """``n`` parameter-set ids drawn with replacement, in proportion to their ``weight`` (1 each
    in an unweighted ensemble; a weighted posterior's weights otherwise): the one place the
    designs that sample the calibration's uncertainty (scenario discovery) draw from it."""
    ids = sorted(param_sets)
    weights = np.array([weight_or_one(param_sets[i].get("weight")) for i in ids])
    if not ids or weights.sum() <= 0:
        raise ExperimentError("no parameter set with a positive weight to draw from")
    return [ids[k] for k in rng.choice(len(ids), size=n, replace=True, p=weights / weights.sum())]


def replicate_seed(root_seed: int, replicate: int) -> int:
    """The model seed of replicate ``r``: child ``r`` of ``SeedSequence(root_seed)``.

    Prefix-stable: raising the number of replicates keeps the seeds of the first ones, so a larger
    experiment reuses the runs of a smaller one in the same folder.
    """
    child = np.random.SeedSequence(root_seed, spawn_key=(replicate,))
    return int(child.generate_state(1, np.uint64)[0] >> np.uint64(1))


def replicate_plan(
    replicates: int, param_sets: Sequence[ParamSet], root_seed: int
) -> list[dict[str, Any]]:
    """Replicate r → (parameter set, seed); the same plan for every scenario (paired runs).

    Weighted sets (a posterior): each replicate draws a set with probability proportional to its
    weight (with replacement: the r-th uniform of a stream derived from the root seed, through the
    weights' cumulative sum), so the draws are a sample of the posterior. Unweighted sets: taken in
    an order shuffled once from the root seed, without replacement until exhausted (then cycling),
    so R replicates see R different sets. Both are prefix-stable: raising R keeps the first draws.
    """
    if replicates < 1:
        raise ExperimentError(f"--replicates: {replicates} is outside the allowed range [1, 10000]")
    rng = np.random.default_rng(np.random.SeedSequence(root_seed, spawn_key=(_PARAM_DRAW_KEY,)))
    if param_sets and all(ps.weight is not None for ps in param_sets):
        cum = np.cumsum([ps.weight for ps in param_sets], dtype=float)
        cum /= cum[-1]
        picks = np.searchsorted(cum, rng.random(replicates), side="right")
        picks = np.minimum(picks, len(param_sets) - 1)
    else:
        order = rng.permutation(len(param_sets))
        picks = [order[r % len(param_sets)] for r in range(replicates)]
    plan = []
    for r in range(replicates):
        ps = param_sets[int(picks[r])]
        plan.append({"replicate": r, "param_id": ps.id, "seed": replicate_seed(root_seed, r)})
    return plan


def draws_note(plan: Sequence[dict[str, Any]], param_sets: Sequence[ParamSet]) -> str:
    """How many draws the replicates made, and how many distinct sets they hold."""
    distinct = len({p["param_id"] for p in plan})
    kind = "weighted draws" if any(ps.weight is not None for ps in param_sets) else "draws"
    return f"{len(plan)} {kind} ({distinct} distinct sets)"


# --------------------------------------------------------------------------------------------
# one run: the worker's side


@dataclass(frozen=True)
class RunSpec:
    """Everything one run needs; small and picklable, so any executor can ship it."""

    label: str  # scenario name (or a least-change / sensitivity label)
    param_id: str
    seed: int
    levers: dict[str, Any]
    uncertainties: dict[str, Any]
    end: str = "2021-12-31"
    scale: int | None = None
    replicate: int | None = None
    tables: tuple[str, ...] = TABLES

    @property
    def key(self) -> tuple[str, str, int]:
        """What identifies the run on disk."""
        return (self.label, self.param_id, self.seed)

    def settings(self) -> dict[str, Any]:
        """What must match for a run on disk to stand for this spec."""
        return {
            "levers": self.levers,
            "uncertainties": self.uncertainties,
            "end": self.end,
            "scale": self.scale,
        }


def replicate_specs(
    label: str,
    levers: dict[str, Any],
    design: Any,
    plan: Sequence[dict[str, Any]],
    tables: tuple[str, ...] = TABLES,
) -> list[RunSpec]:
    """One spec per replicate of ``plan`` for one lever set, with the design's parameter sets,
    end and scale (a least-change point, a candidate package)."""
    return [
        RunSpec(
            label=label,
            param_id=rep["param_id"],
            seed=rep["seed"],
            levers=levers,
            uncertainties=design.param_sets[rep["param_id"]]["values"],
            end=design.end,
            scale=design.scale,
            replicate=rep["replicate"],
            tables=tables,
        )
        for rep in plan
    ]


def run_one(spec: RunSpec) -> dict[str, Any]:
    """Run the model for one spec and return its frames (top level, so it pickles)."""
    from model import Levers, Uncertainties, simulate

    t0, c0 = time.perf_counter(), time.process_time()
    frames = simulate(
        uncertainties=Uncertainties.from_dict(spec.uncertainties),
        levers=Levers.from_dict(spec.levers),
        seed=spec.seed,
        end=spec.end,
        scale=spec.scale,
        detail=True,
    )
    return {
        "frames": {k: frames[k] for k in spec.tables},
        "wall_s": round(time.perf_counter() - t0, 3),
        # CPU seconds: what the run costs on an idle core, whatever else the machine is doing
        "cpu_s": round(time.process_time() - c0, 3),
    }


# --------------------------------------------------------------------------------------------
# the store: the coordinator's side


def slug(text: str) -> str:
    """A file-system-safe version of a label."""
    return "".join(c if c.isalnum() or c in "-_.=" else "_" for c in str(text))


def run_dir(out: str | Path, label: str, param_id: str, seed: int) -> Path:
    """Where the run (label, parameter set, seed) lives."""
    return Path(out) / "runs" / slug(label) / slug(param_id) / f"seed-{seed}"


def spec_dir(out: str | Path, spec: RunSpec) -> Path:
    return run_dir(out, spec.label, spec.param_id, spec.seed)


def model_hash() -> str:
    """A hash of the model's code and data: runs of another model version are not reused."""
    if "model_hash" not in _ENV_CACHE:
        digest = hashlib.sha256()
        base = ROOT / "model"
        for path in sorted(base.rglob("*")):
            if path.is_file() and path.suffix in (".py", ".csv", ".json", ".toml"):
                if "__pycache__" in path.parts:
                    continue
                digest.update(str(path.relative_to(base)).encode())
                digest.update(path.read_bytes())
        _ENV_CACHE["model_hash"] = digest.hexdigest()[:16]
    return _ENV_CACHE["model_hash"]


def run_done(out: str | Path, spec: RunSpec) -> bool:
    """True when the run is on disk with the same settings and model; an error if settings differ.

    A run made by another version of the model (code or data) counts as not done: it is run
    again and replaced atomically, so a folder never mixes model versions silently.
    """
    meta_path = spec_dir(out, spec) / "metadata.json"
    if not meta_path.is_file():
        return False
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta.get("model_hash") != model_hash():
        return False
    on_disk = {k: meta.get(k) for k in ("levers", "uncertainties", "end", "scale")}
    if _canonical(on_disk) != _canonical(spec.settings()):
        changed = [k for k in on_disk if _canonical(on_disk[k]) != _canonical(spec.settings()[k])]
        raise ExperimentError(
            f"{meta_path.parent}: a run with the same key but different {changed} is already "
            "on disk; use another --out folder (or remove that one) for different settings"
        )
    return True


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, default=str)


_ENV_CACHE: dict[str, Any] = {}


def environment() -> dict[str, Any]:
    """Package versions and git commit, recorded in every run's metadata (computed once)."""
    if "versions" not in _ENV_CACHE:
        versions = package_versions(("mesa", "numpy", "pandas", "scipy", "pyarrow"))
        _ENV_CACHE.update({"versions": versions, "git_commit": git(ROOT, "rev-parse", "HEAD")})
    return {k: _ENV_CACHE[k] for k in ("versions", "git_commit")} | {"model_hash": model_hash()}


def save_run(out: str | Path, spec: RunSpec, result: dict[str, Any]) -> Path:
    """Write one run's tables and metadata atomically (complete or absent, never half)."""
    final = spec_dir(out, spec)
    with atomic_dir(final) as tmp:
        for name, frame in result["frames"].items():
            atomic_to_parquet(frame, tmp / f"{name}.parquet")
        meta = {
            "layout_version": LAYOUT_VERSION,
            "label": spec.label,
            "param_id": spec.param_id,
            "seed": spec.seed,
            "replicate": spec.replicate,
            **spec.settings(),
            "tables": list(result["frames"]),
            "wall_s": result.get("wall_s"),
            "cpu_s": result.get("cpu_s"),
            "saved_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            **environment(),
        }
        atomic_write_json(tmp / "metadata.json", meta)
    return final


def remove_leftovers(out: str | Path) -> int:
    """Delete temporary run folders a killed coordinator left behind; return how many.

    ``atomic_dir`` fills ``.seed-<n>.tmp-*`` beside the final folder and renames it; a process
    killed in between leaves the hidden temporary, never a half-written run. One coordinator
    works on a folder at a time, so at start-up any such temporary is an orphan.
    """
    removed = 0
    root = Path(out) / "runs"
    if not root.is_dir():
        return 0
    for path in root.glob("*/*/.seed-*"):
        if ".tmp-" in path.name or ".old-" in path.name:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed += 1
    return removed


@dataclass
class RunStats:
    """What one call of :func:`execute` did."""

    total: int = 0
    skipped: int = 0
    computed: int = 0
    seconds: float = 0.0
    computed_keys: list[tuple[str, str, int]] = field(default_factory=list)


def execute(
    specs: Iterable[RunSpec],
    out: str | Path,
    executor=None,
    *,
    progress: bool | str = True,
    on_saved: Callable[[RunSpec, Path], None] | None = None,
    batch_size: int | None = None,
) -> RunStats:
    """Run every spec not yet on disk and save each as it finishes.

    Duplicate specs run once. Specs are ordered by seed (a worker reuses the population it built
    for that seed) and submitted in batches of ``batch_size`` (default ``16 × workers``), so at
    most one batch of frames is ever held in memory. ``on_saved`` is called after each save (the
    tests use it to interrupt an experiment). Raises :class:`ExperimentError` if a run on disk has
    the same key but other settings.
    """
    from infra.execution import make_executor

    t0 = time.perf_counter()
    unique: dict[tuple[str, str, int], RunSpec] = {}
    for spec in specs:
        other = unique.get(spec.key)
        if other is not None and _canonical(other.settings()) != _canonical(spec.settings()):
            raise ExperimentError(f"two runs keyed {spec.key} with different settings")
        unique.setdefault(spec.key, spec)
    stats = RunStats(total=len(unique))
    remove_leftovers(out)
    todo = [s for s in unique.values() if not run_done(out, s)]
    stats.skipped = stats.total - len(todo)
    todo.sort(key=lambda s: (s.seed, s.label, s.param_id))
    if not todo:
        stats.seconds = time.perf_counter() - t0
        return stats
    own = executor is None
    executor = executor or make_executor("local", 1)
    size = batch_size or max(8, 16 * int(getattr(executor, "workers", 1) or 1))
    bar = _progress_bar(progress, stats.total, stats.skipped)
    try:
        for start in range(0, len(todo), size):
            chunk = todo[start : start + size]
            for index, result in executor.as_completed(run_one, chunk):
                spec = chunk[index]
                path = save_run(out, spec, result)
                del result
                stats.computed += 1
                stats.computed_keys.append(spec.key)
                if bar is not None:
                    bar.update(1)
                if on_saved is not None:
                    on_saved(spec, path)
    finally:
        if bar is not None:
            bar.close()
        if own:
            executor.close()
    stats.seconds = time.perf_counter() - t0
    return stats


def _progress_bar(progress: bool | str, total: int, initial: int):
    if not progress:
        return None
    from tqdm import tqdm

    desc = progress if isinstance(progress, str) else "runs"
    return tqdm(total=total, initial=initial, desc=desc, unit="run", dynamic_ncols=True)


# --------------------------------------------------------------------------------------------
# experiments: scenarios × replicates


def scenario_specs(
    scenarios: Sequence[Any],
    plan: Sequence[dict[str, Any]],
    param_sets: dict[str, ParamSet],
    *,
    end: str,
    scale: int | None,
) -> list[RunSpec]:
    """One spec per scenario and replicate (uncertainties = parameter set + scenario overrides)."""
    specs = []
    for sc in scenarios:
        for rep in plan:
            values = dict(param_sets[rep["param_id"]].values)
            values.update(sc.uncertainty_overrides)
            specs.append(
                RunSpec(
                    label=sc.name,
                    param_id=rep["param_id"],
                    seed=rep["seed"],
                    levers=sc.levers_dict(),
                    uncertainties=values,
                    end=end,
                    scale=scale,
                    replicate=rep["replicate"],
                )
            )
    return specs


@dataclass
class Design:
    """What an experiment folder holds: ``experiment.json``, read back by outcomes and report."""

    root_seed: int
    end: str
    scale: int | None
    params_note: str
    param_sets: dict[str, dict[str, Any]]
    plan: list[dict[str, Any]]
    scenarios: dict[str, dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {"layout_version": LAYOUT_VERSION, **dataclasses.asdict(self)}


DESIGN_FILE = "experiment.json"


def read_design(out: str | Path) -> Design | None:
    """The experiment design on disk, or None."""
    path = Path(out) / DESIGN_FILE
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    data.pop("layout_version", None)
    return Design(**data)


def merge_design(out: str | Path, new: Design) -> Design:
    """Add scenarios and replicates to the folder's design; refuse changed settings."""
    old = read_design(out)
    if old is None:
        return new
    for name in ("root_seed", "end", "scale"):
        if getattr(old, name) != getattr(new, name):
            raise ExperimentError(
                f"{Path(out) / DESIGN_FILE}: this folder holds an experiment with {name} = "
                f"{getattr(old, name)!r}, not {getattr(new, name)!r}; use another --out"
            )
    if set(old.param_sets) != set(new.param_sets):
        # The calibration changed: start a new design in the same folder. Runs of the old
        # parameter sets stay on disk under their own ids but are no longer read.
        print(
            f"note: the parameter sets differ from those of {Path(out) / DESIGN_FILE} (the "
            "calibration changed?); the experiment restarts with the new ones, and runs of the "
            "old ones stay on disk unused",
            file=sys.stderr,
        )
        return new
    scenarios = dict(old.scenarios)
    for name, sc in new.scenarios.items():
        if name in scenarios and _canonical(scenarios[name]) != _canonical(sc):
            keep = {k: v for k, v in sc.items() if k != "description"}
            was = {k: v for k, v in scenarios[name].items() if k != "description"}
            if _canonical(keep) != _canonical(was):
                raise ExperimentError(
                    f"scenario {name!r} has changed since it was run in {out}; rename it or "
                    "use another --out"
                )
        scenarios[name] = sc
    plan = old.plan if len(old.plan) >= len(new.plan) else new.plan
    return dataclasses.replace(new, scenarios=scenarios, plan=plan)


def scenario_record(sc: Any) -> dict[str, Any]:
    return {
        "description": sc.description,
        "group": sc.group,
        "levers": sc.levers_dict(),
        "changed_levers": sc.changed_levers(),
        "uncertainty_overrides": dict(sc.uncertainty_overrides),
        "path": str(Path(sc.path).resolve().relative_to(ROOT))
        if sc.path and Path(sc.path).resolve().is_relative_to(ROOT)
        else sc.path,
    }


def run_experiment(
    scenarios: Sequence[Any],
    *,
    replicates: int,
    out: str | Path = DEFAULT_OUT,
    executor=None,
    root_seed: int = DEFAULT_ROOT_SEED,
    end: str = "2021-12-31",
    scale: int | None = None,
    params: str | Path = "posterior",
    progress: bool | str = True,
    on_saved: Callable[[RunSpec, Path], None] | None = None,
) -> tuple[Design, RunStats]:
    """Run scenarios × replicates into ``out`` (resuming), recording the design first."""
    out = Path(out)
    if not scenarios:
        raise ExperimentError("no scenarios to run")
    names = [s.name for s in scenarios]
    if len(set(names)) != len(names):
        raise ExperimentError(f"scenario names must be unique, got {names}")
    param_sets, note = load_parameter_sets(params)
    plan = replicate_plan(replicates, param_sets, root_seed)
    note = f"{note}; {draws_note(plan, param_sets)}"
    used = {p["param_id"] for p in plan}
    design = Design(
        root_seed=root_seed,
        end=str(end),
        scale=scale,
        params_note=note,
        param_sets={
            ps.id: {"values": ps.values, "loss": ps.loss, "weight": ps.weight} for ps in param_sets
        },
        plan=plan,
        scenarios={s.name: scenario_record(s) for s in scenarios},
    )
    design = merge_design(out, design)
    atomic_write_json(out / DESIGN_FILE, design.to_json())
    by_id = {ps.id: ps for ps in param_sets if ps.id in used}
    specs = scenario_specs(scenarios, plan, by_id, end=str(end), scale=scale)
    stats = execute(specs, out, executor, progress=progress, on_saved=on_saved)
    return design, stats
