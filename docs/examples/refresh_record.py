"""Recompute the fit and predictive sections of ``calibration/calibrated.json`` for its current
best set and ``calibration/posterior.csv`` (step 3 of the committed calibration of 25 Nov 2026,
docs/calibration.md: after stage B's point was written into both).

    python docs/examples/refresh_record.py FIT_TABLE.csv     # about 4 min with 2 workers

Runs the best set on the 20 report seeds and 100 posterior draws on fresh seeds through the
pipeline's own report step, at 1 agent per 100 persons, against every training figure of both
windows; writes the fit table and the record's ``fit``, ``predictive`` and ``loss_report_seeds``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from calibration import bass, pipeline, predictive, report
from calibration.inference import Posterior
from calibration.loss import loss
from calibration.objective import SearchSpace
from calibration.targets import load_targets, training_targets
from infra.atomic import atomic_write_text
from infra.execution import make_executor
from model import Uncertainties

RECORD = Path("calibration/calibrated.json")


def main(fit_table_path: Path, workers: int = 2) -> dict:
    record = json.loads(RECORD.read_text())
    rows = pd.read_csv("calibration/posterior.csv")
    names = record["stages"][record["posterior"]["stage"]]["params"]
    space = SearchSpace.from_specs(names)
    best = Uncertainties.from_dict(record["uncertainties"])
    w = rows["weight"].to_numpy(float)
    post = Posterior(
        space=space,
        base={k: v for k, v in best.to_dict().items() if k not in names},
        x=np.array([space.coords(r) for r in rows[names].to_dict("records")]),
        weights=w / w.sum(),
        loss=rows["loss"].to_numpy(float),
        quantities=np.zeros((len(rows), 0)),
    )
    settings = pipeline.CalibrationSettings(scale=100, report_replicates=20, predictive_draws=100)
    targets = load_targets()
    train_all = training_targets(targets)
    first = training_targets(targets, None, windows=("2018-2019",))
    best_runs, pred_runs, _, _ = pipeline._report_runs(
        settings, best, post, train_all, make_executor("local", workers=workers), False
    )
    sims = np.array([r["quantities"] for r in best_runs])
    pred = np.array([r["quantities"] for r in pred_runs])
    baseline = bass.predict(bass.fit(first, seed=0), train_all)
    table = report.fit_table(train_all, train_all, sims, pred, baseline)
    metrics = report.metrics(table)
    metrics["report_runs_stopped"] = int(np.isnan(sims).all(axis=1).sum())
    metrics["predictive_runs_stopped"] = int(np.isnan(pred).all(axis=1).sum())
    mean = np.nanmean(sims, axis=0)[[i for i, t in enumerate(train_all) if t in first]]
    record.update(
        fit=metrics, predictive=predictive.coverage(table), loss_report_seeds=loss(first, mean)
    )
    table.to_csv(fit_table_path, index=False)
    atomic_write_text(RECORD, json.dumps(record, indent=1) + "\n")
    return record


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]))
