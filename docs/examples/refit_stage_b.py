"""Stage B's point estimate given the committed stage-A best set (step 3 of the committed
calibration of 25 Nov 2026, docs/calibration.md).

    python docs/examples/refit_stage_b.py OUT_DIR [BUDGET REFINE]  # 600 150: 20 min, 2 workers

Differential evolution (``calibration.search``, checkpointed in OUT_DIR/de-B.json: run it again
to resume) of the stage-B parameters on both windows' training figures, the other uncertainties
at ``calibration/calibrated.json``'s values, 1 seed, 1 agent per 100 persons. Writes
OUT_DIR/best.json. The CLI runs the same search inside ``telesim calibrate --stages A,B``, where
it is followed by stage B's ABC posterior (hours); this script gives the point alone.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from calibration import stages
from calibration.objective import Objective, SearchSpace, training_seeds
from calibration.search import SearchSettings, differential_evolution
from calibration.targets import load_targets, training_targets
from infra.execution import make_executor


def main(out: Path, budget: int = 600, refine: int = 150, workers: int = 2) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    base = json.loads(Path("calibration/calibrated.json").read_text())["uncertainties"]
    stage = next(s for s in stages.STAGES if s.name == "B")
    fitted = training_targets(load_targets(), None, windows=stage.windows)
    space = SearchSpace.from_specs(list(stage.params))
    fixed = {k: v for k, v in base.items() if k not in space.names}
    objective = Objective(space, tuple(fitted), tuple(training_seeds(1)), 100, fixed)
    start = np.clip(space.coords(base), space.low, space.high)
    print(f"start loss {objective(start):.4f}", flush=True)
    executor = make_executor("local", workers=workers)
    result = differential_evolution(
        objective,
        space.bounds,
        replace(SearchSettings(), budget=budget, refine=refine),
        map_fn=executor.map,
        checkpoint=out / "de-B.json",
        resume=(out / "de-B.json").is_file(),
        fingerprint={"params": list(stage.params), "base": fixed},
        progress=False,
        x0=start,
    )
    best = {
        "loss": float(result.fun),
        "params": {k: float(v) for k, v in space.values(result.x).items()},
    }
    (out / "best.json").write_text(json.dumps(best, indent=1) + "\n")
    print(f"best loss {best['loss']:.4f}")
    return best


if __name__ == "__main__":
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    main(Path(args[0]), *(int(a) for a in args[1:3]))
