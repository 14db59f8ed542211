"""Stage B's posterior, given the committed stage-A posterior (docs/calibration.md: "Stage B's
posterior: sampled, not adopted").

    python docs/examples/stage_b_posterior.py OUT_DIR [EVALUATIONS [POPULATION [SPREAD [START_A]]]]
    python docs/examples/stage_b_posterior.py OUT_DIR EVALUATIONS POPULATION SPREAD START_A --as-is
    python docs/examples/stage_b_posterior.py OUT_DIR --spreads STEP
    python docs/examples/stage_b_posterior.py OUT_DIR --write

Why a script: ``telesim calibrate --stages A,B`` would sample stage A again (41,650 evaluations
for the committed one), and the committed stage-A run's state is not in a clone. This runs the
pipeline's own stage-B inference (:mod:`calibration.replenishment`, the record's ABC settings,
``start="point"``) on the committed pieces: the prior of the 20 stage-A parameters is the kernel
density estimate of ``calibration/posterior.csv``'s stage-A columns, that of the 16 stage-B
parameters uniform on their ranges; the start is the record's best set (stage B's refined
point); the distance scores the 2020 training figures only (the 2018-2019 ones are in the prior:
:func:`calibration.pipeline.distance_targets`); the final tolerance is the pipeline's automatic
one. EVALUATIONS (default 2,400; about 3.4 s each at 1 agent per 100 persons, on 2 worker
processes) caps the sampler; POPULATION defaults to the record's (340), SPREAD (generation 0's
normals around the point, a share of each range) to the record's (0.1); START_A ``point`` (the
default) puts the stage-A parameters of generation 0 around the point too, ``prior`` draws them
from the stage-A posterior's KDE (``AbcSettings.init_inherited``). The sampler writes its
state after every generation, and the copies already moved of the generation in progress at
most once a minute: the same command resumes a killed run where it stopped (a held generation of
the gated run takes about 3 hours on 2 workers, so it may span sessions), with the result of an
uninterrupted one, and a larger EVALUATIONS extends a finished one.

START_A ``gate`` (6 Dec 2026 on: the run that replaced the KDE prior) samples the joint ABC
posterior instead: every parameter's prior uniform on its range, every training figure
simulated, the 2018-2019 ones a gate at stage A's final tolerance (a particle beyond it is
never accepted, :class:`calibration.inference.GatedDistance`), the distance and its automatic
tolerance the 2020 ones', and generation 0's stage-A parameters drawn from the committed
stage-A posterior's rows (``StageProblem.start_rows``), its stage-B ones around the point. Why:
the KDE of 340 particles in 21 dimensions blurred stage A's region (docs/calibration.md: 15 of
the 240 particles of the KDE run were inside it), and the 2020 distance did not pull them back.

``--as-is`` (after the same arguments as the run) writes the run's last whole generation as
its result without sampling more (the record then says "stopped on purpose", with the held
generations and the last moves of the means and sds): for a session that must stop before the
sampler's rule does; the same command without it resumes the sampling.

``--spreads STEP`` (run first, about 2 minutes) sizes generation 0 per stage-B parameter instead
of one SPREAD for all: it moves each stage-B parameter by STEP of its range either way from the
start (2 simulations each), reads the rise of the 2020 distance on each side, and takes as the
parameter's sd the move at which a quadratic through that rise would spend an equal share of the
tolerance's margin (the final tolerance minus the start's distance, over the stage-B parameters),
the steeper side deciding, between 0.005 and 0.3 of the range (0.3: about the uniform prior's
sd). It writes them to OUT_DIR/init-spreads.json, which the sampling then uses
(``AbcSettings.init_spreads``). Why: a 2% or 10% start for every range is too wide for the
parameters the 2020 figures pin (``lockdown_uptake_weeks``: +90 in distance at 5% of its range)
and far too narrow for those they leave free (``price_effect``: +0.001), which the moves then
take many generations to widen.

``--write`` puts OUT_DIR's posterior into ``calibration/posterior.csv`` (one row per particle,
every uncertainty, ``weight`` and ``loss`` = its 2020 distance) and the stage's sampling record
into ``calibration/calibrated.json`` (``stages.B.abc`` and ``posterior``); the best set stays the
refined point. Then run ``refresh_record.py`` for the fit and predictive sections.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from calibration import identifiability, pipeline, replenishment, stages
from calibration.inference import (
    GATED,
    AbcSettings,
    GatedDistance,
    Posterior,
    StageProblem,
    evaluate,
    ordered_map,
    simulate,
)
from calibration.objective import Objective, SearchSpace
from calibration.targets import load_targets, training_targets
from infra.atomic import atomic_write_json, atomic_write_text
from infra.execution import make_executor

STATE = "stage-B.json"
ROWS = "posterior-B.csv"
SPREADS = "init-spreads.json"
#: START_A for the gated run: the 2018-2019 figures a constraint, not a KDE prior
GATE = "gate"
#: generation 0's sds per parameter, shares of the range: at least (the figures never pin a
#: parameter to a point at this scale) and at most (about the sd of a uniform on the range)
SPREAD_FLOOR, SPREAD_CAP = 0.005, 0.3


def problem_and_settings(
    evaluations: int,
    population: int | None = None,
    spread: float | None = None,
    start_a: str | None = None,
) -> tuple[StageProblem, AbcSettings]:
    """Stage B's inference problem on the committed record and stage-A posterior."""
    record = json.loads(pipeline.CALIBRATED_JSON.read_text())
    a, b = (next(s for s in stages.STAGES if s.name == n) for n in ("A", "B"))
    best = record["uncertainties"]
    previous = Posterior.from_frame(pd.read_csv(pipeline.POSTERIOR_CSV), a.params, best)
    names = [*a.params, *b.params]
    space = SearchSpace.from_specs(names)
    fitted = training_targets(load_targets(), None, windows=b.windows)
    new_windows = set(b.windows) - set(a.windows)
    scored = pipeline.distance_targets(fitted, new_windows, True)
    seeds = tuple(pipeline.training_seeds(record["settings"]["replicates"]))
    base = {k: v for k, v in best.items() if k not in space.names}
    gated = start_a == GATE  # the gated run simulates every figure; the others the 2020 ones
    simulated = tuple(fitted) if gated else tuple(scored)
    objective = Objective(space, simulated, seeds, record["settings"]["scale"], base)
    center = np.clip(space.coords(best), space.low, space.high)
    abc = AbcSettings(**record["settings"]["abc"])
    if population is not None:
        abc = replace(abc, population=population)
    if spread is not None:
        abc = replace(abc, init_spread=spread)
    if gated:
        # the 2018-2019 figures a gate at stage A's final tolerance, the distance the 2020
        # ones; uniform priors; generation 0's stage-A part from A's rows
        gate = GatedDistance(
            simulated,
            tuple(t.id for t in fitted if t not in scored),
            float(record["stages"]["A"]["abc"]["diagnostics"]["final_epsilon"]),
        )
        problem = StageProblem(
            "B", objective, center, evaluations, distance=gate, start_rows=previous
        )
        start = float(gate(simulate(objective, center)))
        if start >= GATED:
            raise ValueError("the best set is outside stage A's tolerance: no gated start")
    else:
        if start_a is not None:
            abc = replace(abc, init_inherited=start_a)
        problem = StageProblem("B", objective, center, evaluations, previous)
        start = float(objective(center))
    tolerance = pipeline.auto_tolerance(start, len(names), scored)
    return problem, replace(abc, tolerance=tolerance)


def axis_spreads(out: Path, step: float, workers: int = 2) -> dict[str, float]:
    """Generation 0's sd per stage-B parameter from the 2020 distance along each axis (see the
    module docstring); written to OUT_DIR/init-spreads.json with the profile it came from."""
    problem, abc = problem_and_settings(0)
    space, objective = problem.space, problem.objective
    names = list(space.names)
    new = [n for n in names if n not in problem.inherited()]
    low, high = np.asarray(space.low), np.asarray(space.high)
    distance = problem.make_distance()
    center = np.asarray(problem.center, dtype=float)
    jobs = [(objective, distance, center)]
    for n in new:
        i = names.index(n)
        for sign in (-1.0, 1.0):
            x = center.copy()
            x[i] = np.clip(center[i] + sign * step * (high[i] - low[i]), low[i], high[i])
            jobs.append((objective, distance, x))
    results = ordered_map(make_executor("local", workers), evaluate, jobs, "axis profile", True)
    d0 = float(results[0][1])
    margin = (abc.tolerance - d0) / len(new)
    spreads, profile = {}, {}
    for k, n in enumerate(new):
        i = names.index(n)
        span = high[i] - low[i]
        shares = []
        for side in (0, 1):
            x, d = jobs[1 + 2 * k + side][2][i], float(results[1 + 2 * k + side][1])
            moved = abs(x - center[i]) / span
            if moved > 0 and d > d0:
                shares.append(moved * math.sqrt(margin / (d - d0)))
        profile[n] = [float(results[1 + 2 * k][1]), float(results[2 + 2 * k][1])]
        share = min(shares) if shares else SPREAD_CAP
        spreads[n] = float(np.clip(share, SPREAD_FLOOR, SPREAD_CAP))
    atomic_write_json(
        out / SPREADS,
        {
            "step": step,
            "start_distance": d0,
            "tolerance": abc.tolerance,
            "margin_per_parameter": margin,
            "distance_down_up": profile,
            "init_spreads": spreads,
        },
    )
    return spreads


#: the KDE-prior run's prior and distance (also read for summaries written before design())
_KDE_DESIGN = {
    "prior": "stage-A parameters: weighted KDE of the committed stage-A posterior "
    "(calibration/posterior.csv before this stage); stage-B parameters: uniform on ranges",
    "distance": "2020 training figures only",
}


def design(problem: StageProblem) -> dict[str, str]:
    """How the run's prior, distance and start were made (its summary, then the record)."""
    if problem.distance is not None:  # the gated run
        gate = problem.distance.describe()["gate_tolerance"]
        return {
            "prior": "uniform on every range; the 2018-2019 training figures a gate at stage "
            f"A's final tolerance ({gate:.4g}): a particle beyond it is never accepted",
            "distance": "2020 training figures, for particles within the gate",
            "start": "the record's best set (stage B's refined point), generation 0's stage-A "
            "parameters from the rows of the committed stage-A posterior",
        }
    return {**_KDE_DESIGN, "start": "the record's best set (stage B's refined point)"}


def sample(
    out: Path,
    evaluations: int,
    population: int | None = None,
    spread: float | None = None,
    start_a: str | None = None,
    workers: int = 2,
    as_is: bool = False,
) -> None:
    problem, abc = problem_and_settings(evaluations, population, spread, start_a)
    if (out / SPREADS).is_file():
        given = json.loads((out / SPREADS).read_text())["init_spreads"]
        abc = replace(abc, init_spreads=tuple(given.items()))
        print(f"generation 0's sds per parameter from {out / SPREADS}")
    print(
        f"stage B: {len(problem.space.names)} parameters, {len(problem.targets)} figures "
        f"simulated, population {abc.population}, final tolerance {abc.tolerance:.4g}, at "
        f"most {evaluations} evaluations"
    )
    if as_is and not (out / replenishment.STATE_NAME.format(stage="B")).is_file():
        sys.exit(f"--as-is: no sampler state in {out}")
    result = replenishment.run_stage(
        problem,
        abc,
        out,
        make_executor("local", workers),
        resume=True,
        progress=True,
        stop_after=0 if as_is else None,
    )
    frame = result.posterior.frame()
    atomic_write_text(out / ROWS, frame.to_csv(index=False))
    summary = {
        **pipeline.abc_summary(result),
        "settings": abc.to_dict(),
        **design(problem),
        "seeds": list(problem.objective.seeds),
        "scale": problem.objective.scale,
    }
    atomic_write_json(out / STATE, summary)
    print(f"stage B: {summary['evaluations']} evaluations, {result.stop_reason}")


def write(out: Path) -> dict:
    """OUT_DIR's stage-B posterior into the committed record and posterior file."""
    summary = json.loads((out / STATE).read_text())
    # a summary from before design() named no prior: those runs all used the KDE
    summary = {**_KDE_DESIGN, **summary}
    prior = summary["prior"]
    frame = pd.read_csv(out / ROWS)
    record = json.loads(pipeline.CALIBRATED_JSON.read_text())
    b = next(s for s in stages.STAGES if s.name == "B")
    names = [*record["stages"]["A"]["params"], *b.params]
    record["stages"]["B"]["abc"] = {k: v for k, v in summary.items() if k != "settings"}
    record["stages"]["B"]["abc_settings"] = summary["settings"]
    # the point estimate's note said its values were held in every row, the posterior to run
    point = re.sub(
        r"; its parameters are held at these values in every row of the stage-A posterior; "
        r"its ABC posterior is still to run \(see docs/calibration\.md\)",
        "",
        record["stages"]["B"].get("note", ""),
    ).replace("point estimate only: ", "point estimate: ", 1)
    point = re.sub(r"; then the ABC posterior of stages A and B together \(.*$", "", point)
    record["stages"]["B"]["note"] = (
        f"{point}; then the ABC posterior of stages A and B together "
        f"(docs/examples/stage_b_posterior.py, {dt.date.today().isoformat()}: "
        f"{summary.get('population', len(frame))} particles, prior: {prior})"
    )
    record["stages"]["B"]["description"] = f"the 2020 regime, on both windows (prior: {prior})"
    text = frame.to_csv(index=False)
    post = Posterior.from_frame(frame, names, record["uncertainties"])
    record["identifiability"] = identifiability.record_section(
        identifiability.table(post), identifiability.correlations(post)
    )
    record["posterior"] = {
        **record["posterior"],
        "stage": "B",
        "rows": len(frame),
        "distinct": int(len(frame[names].drop_duplicates())),
        "ess": float(post.ess()),
        "sha256": hashlib.sha256(text.encode()).hexdigest(),
        "note": (
            "stage B's posterior (docs/examples/stage_b_posterior.py, "
            f"{dt.date.today().isoformat()}): the {len(names)} parameters of stages A and B; "
            f"prior: {prior}; distance: {summary['distance']}; "
            "weight equal, loss = the 2020 distance on the training seed"
        ),
    }
    record["unstaged"] = stages.unstaged(stages.select(["A", "B"]))
    record["method"] = re.sub(
        r"; stage B: .*$",
        "; stage B: a point estimate by differential evolution given the stage-A best set, "
        "refined by Nelder-Mead, then the same ABC-SMC over stages A and B from that point "
        f"(prior: {prior}; distance: {summary['distance']})",
        record["method"],
    )
    atomic_write_text(pipeline.POSTERIOR_CSV, text)
    atomic_write_json(pipeline.CALIBRATED_JSON, record)
    return record


def _usage() -> None:
    sys.exit(__doc__)


if __name__ == "__main__":
    args = sys.argv[1:]
    if not args:
        _usage()
    out_dir = Path(args[0])
    if len(args) == 3 and args[1] == "--spreads":
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, share in axis_spreads(out_dir, float(args[2])).items():
            print(f"{name:34s} {share:.4f}")
    elif args[1:] == ["--write"]:
        rec = write(out_dir)
        print(json.dumps(rec["posterior"], indent=1))
    elif (n := len(args) - (args[-1] == "--as-is")) <= 5 and all(
        a.replace(".", "", 1).isdigit() for a in args[1 : min(n, 4)]
    ):
        sample(
            out_dir,
            int(args[1]) if n > 1 else 2400,
            int(args[2]) if n > 2 else None,
            float(args[3]) if n > 3 else None,
            args[4] if n > 4 else None,
            as_is=args[-1] == "--as-is",
        )
    else:
        _usage()
