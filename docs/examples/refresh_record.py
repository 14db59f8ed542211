"""Recompute the fit and predictive sections of ``calibration/calibrated.json`` for its current
best set and ``calibration/posterior.csv`` (step 3 of the committed calibration of 25 Nov 2026,
docs/calibration.md: after stage B's point was written into both).

    python docs/examples/refresh_record.py FIT_TABLE.csv     # about 4 min with 2 workers

Runs the best set on the 20 report seeds and 100 posterior draws on fresh seeds through the
pipeline's own report step, at 1 agent per 100 persons, against every training figure of both
windows; writes the fit table and the record's ``fit``, ``predictive``, ``loss_report_seeds``,
``model_commit`` (the model the figures were computed with) and ``fit_targets_sha256`` (the
targets file they were scored against; ``targets_sha256`` stays that of the sampling).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

from calibration import bass, pipeline, stages
from calibration.inference import Posterior
from calibration.loss import loss
from calibration.targets import OBSERVED_CSV, file_sha256, load_targets, training_targets
from infra.atomic import atomic_write_json, atomic_write_text
from infra.execution import make_executor
from infra.provenance import git
from model import Uncertainties


def main(fit_table_path: Path, workers: int = 2) -> dict:
    fit_table_path.parent.mkdir(parents=True, exist_ok=True)
    record = json.loads(pipeline.CALIBRATED_JSON.read_text())
    best = Uncertainties.from_dict(record["uncertainties"])
    names = stages.posterior_params(record)
    post = Posterior.from_frame(pd.read_csv(pipeline.POSTERIOR_CSV), names, best.to_dict())
    settings = pipeline.CalibrationSettings(scale=100, report_replicates=20, predictive_draws=100)
    targets = load_targets()
    train_all = training_targets(targets)
    first = training_targets(targets, None, windows=("2018-2019",))
    baseline = bass.predict(bass.fit(first, seed=0), train_all)
    checked = pipeline.fit_report(
        settings, best, post, train_all, train_all, baseline, make_executor("local", workers), False
    )
    record.update(
        fit=checked.metrics,
        predictive=checked.coverage,
        loss_report_seeds=loss(first, checked.mean_on(train_all, first)),
        model_commit=git(pipeline.ROOT, "log", "-1", "--format=%H", "--", "model/"),
        fit_targets_sha256=file_sha256(OBSERVED_CSV),
    )
    atomic_write_text(fit_table_path, checked.table.to_csv(index=False))
    atomic_write_json(pipeline.CALIBRATED_JSON, record)
    return record


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]))
