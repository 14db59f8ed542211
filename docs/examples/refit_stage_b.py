"""Stage B's point estimate given the committed stage-A best set (step 3 of the committed
calibration of 25 Nov 2026, docs/calibration.md).

    python docs/examples/refit_stage_b.py OUT_DIR [BUDGET REFINE [SPREAD [START]]]

BUDGET REFINE default to 600 150 (20 min with 2 workers); SPREAD is the initial population's
half-width as a share of each range around the start (default 0.07); START a JSON object of
stage-B values overriding the record's as the start (how a new parameter enters: the refit of
25 Nov 2026 after ``lockdown_uptake_weeks`` was added used ``900 200 0.15
'{"lockdown_uptake_weeks": 0.7, "lockdown_threshold": 0.65}'``, 36 min).

The pipeline's own point estimate (``calibration.pipeline.point_estimate``: differential
evolution, checkpointed in OUT_DIR/de-B.json, run it again to resume) of the stage-B parameters on
both windows' training figures, the other uncertainties at ``calibration/calibrated.json``'s
values, 1 seed, 1 agent per 100 persons. Writes OUT_DIR/best.json. ``telesim calibrate
--stages A,B`` runs the same search, then stage B's ABC posterior (hours); this script gives the
point alone.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

from calibration import pipeline, stages
from calibration.targets import load_targets, training_targets
from infra.execution import make_executor


def main(
    out: Path,
    budget: int = 600,
    refine: int = 150,
    spread: float = 0.07,
    start: dict | None = None,
    workers: int = 2,
) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    base = json.loads(pipeline.CALIBRATED_JSON.read_text())["uncertainties"]
    base = {**base, **(start or {})}
    stage = replace(
        next(s for s in stages.STAGES if s.name == "B"), de_budget=budget, de_refine=refine
    )
    settings = pipeline.CalibrationSettings(stages=(stage,), replicates=1, scale=100)
    settings = replace(settings, search=replace(settings.search, init_spread=spread))
    fitted = training_targets(load_targets(), None, windows=stage.windows)
    executor = make_executor("local", workers=workers)
    try:
        space, x, point_loss, _ = pipeline.point_estimate(
            settings, stage, stage.params, fitted, base, {}, out, executor, resume=True,
            progress=False,
        )  # fmt: skip
    finally:
        executor.close()
    best = {"loss": point_loss, "params": {k: float(v) for k, v in space.values(x).items()}}
    (out / "best.json").write_text(json.dumps(best, indent=1) + "\n")
    print(f"best loss {best['loss']:.4f}")
    return best


if __name__ == "__main__":
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    counts = [int(a) for a in args[1:3]]
    spread = [float(a) for a in args[3:4]]
    start = [json.loads(a) for a in args[4:5]]
    main(Path(args[0]), *counts, *spread, *start)
