"""Refine stage B's point estimate on more seeds (after ``refit_stage_b.py``, before
``write_stage_b.py``; docs/calibration.md says where it was tried and why it was not adopted).

    python docs/examples/refine_stage_b.py OUT_DIR [EVALUATIONS [SEEDS [NAMES]]]

OUT_DIR is a ``refit_stage_b.py`` folder, whose ``best.json`` is the start; or a new folder, and
the start is the committed record's stage-B point (a refinement of the record). scipy's Nelder-Mead
minimises the loss of both windows' training figures averaged over SEEDS replicate seeds (default 2:
seeds 1-2; differential evolution scores one), 1 agent per 100 persons, the stage-B parameters (or
NAMES, a comma-separated subset of them; the others stay at the start) searched in the search's box
scaled to [0, 1] (log10 where the search is; the first simplex moves each by 8% of its range), the
other uncertainties at ``calibration/calibrated.json``'s values, for at most EVALUATIONS evaluations
(default 200; about 3.5 s each, the seeds on 2 worker processes). Writes OUT_DIR/refined.json (the
start's and the end's loss on those seeds, the values); ``write_stage_b.py OUT_DIR`` then takes the
refined values if they score lower than the start. Checkpoints nothing: a killed run starts again.
"""

from __future__ import annotations

import json
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

from calibration import stages
from calibration.objective import FAILED, Objective, SearchSpace
from calibration.pipeline import CALIBRATED_JSON as RECORD
from calibration.targets import load_targets, training_targets
from infra.atomic import atomic_write_json

#: The first simplex: each parameter moved by 8% of its search range (inwards at a bound).
SIMPLEX_STEP = 0.08


def main(
    out: Path,
    evaluations: int = 200,
    seeds: int = 2,
    names: list[str] | None = None,
    workers: int = 2,
) -> dict:
    stage = next(s for s in stages.STAGES if s.name == "B")
    names = list(stage.params) if names is None else names
    if not set(names) <= set(stage.params):
        sys.exit(f"NAMES: {sorted(set(names) - set(stage.params))} are not stage-B parameters")
    record = json.loads(RECORD.read_text())["uncertainties"]
    start_file = out / "best.json"
    start = (
        json.loads(start_file.read_text())["params"]
        if start_file.exists()
        else {k: record[k] for k in stage.params}
    )
    base = {**record, **start}
    out.mkdir(parents=True, exist_ok=True)
    fitted = tuple(training_targets(load_targets(), None, windows=stage.windows))
    space = SearchSpace.from_specs(names)
    seed_list = tuple(range(1, seeds + 1))
    objective = Objective(
        space, fitted, seed_list, 100, {k: v for k, v in base.items() if k not in space.names}
    )
    low, high = np.array(space.low), np.array(space.high)
    with ProcessPoolExecutor(workers) as pool:

        def score(u: np.ndarray) -> float:  # u: the search box scaled to [0, 1]
            if np.any(u < 0.0) or np.any(u > 1.0):  # outside the box: refused, not clipped
                return FAILED
            x = low + u * (high - low)
            runs = list(pool.map(_replicate, [(objective, x, s) for s in seed_list]))
            stopped = [r for r in runs if isinstance(r, float)]
            return objective.score(stopped[0] if stopped else np.vstack(runs))

        u0 = (space.coords(base) - low) / (high - low)
        steps = np.where(u0 + SIMPLEX_STEP <= 1.0, SIMPLEX_STEP, -SIMPLEX_STEP)
        simplex = np.vstack([u0, u0 + np.diag(steps)])
        before = score(u0)
        result = minimize(
            score,
            u0,
            method="Nelder-Mead",
            options={
                "maxfev": evaluations,
                "initial_simplex": simplex,
                "xatol": 1e-4,
                "fatol": 1e-4,
            },
        )
        x = low + result.x * (high - low)
    refined = {k: float(v) for k, v in space.values(x).items()}
    done = {
        "method": "scipy Nelder-Mead on both windows' training figures",
        "params": names,
        "seeds": list(seed_list),
        "scale": 100,
        "evaluations": int(result.nfev),
        "loss_before": float(before),
        "loss_after": float(result.fun),
        "values": refined,
        "start": "best.json" if start_file.exists() else "the record's stage-B point",
    }
    atomic_write_json(out / "refined.json", done)
    print(json.dumps({k: done[k] for k in ("evaluations", "loss_before", "loss_after")}))
    return done


def _replicate(args) -> np.ndarray | float:
    """One seed's simulated figures (the seeds of a point run on separate processes)."""
    objective, x, seed = args
    return objective.replicates(x, seeds=(seed,))


if __name__ == "__main__":
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    names = args[3].split(",") if len(args) > 3 else None
    main(Path(args[0]), *(int(a) for a in args[1:3]), names)
