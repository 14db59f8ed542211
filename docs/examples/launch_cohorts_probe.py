"""The launch cohorts against the first year's figures: refine stage A with them on, score on
held-out seeds beside the committed best set (docs/calibration.md, "Launch cohorts").

    python docs/examples/launch_cohorts_probe.py OUT_DIR START.json [EVALUATIONS [SEEDS]]

START.json holds uncertainty values (a ``values`` object) laid over the committed
best set; ``launch_cohort_scale`` is taken from it (1 if absent: the sourced counts). scipy's
Nelder-Mead then minimises, on seeds 1..SEEDS (default 4) at 1 agent per 100 persons, the
2018-2019 loss plus the share penalty of ``refine_stage_a.py``'s MARGIN (0.045: every share
within 4.5 points, beyond which a point costs as much as a whole target at its tolerance), over
the stage-A parameters that shape the counts and shares and ``launch_awareness_weeks``, for at
most EVALUATIONS evaluations (default 500, about 3 s each). The best set so far is written to
OUT_DIR/best.json after every improvement (a killed run restarts from it: pass it as START).

Then both sets, the committed one and the refined one, are scored on eight seeds the
refinement did not use (SEEDS+1 .. SEEDS+8): loss, count log-RMSE, largest share error, every
count's log error; written to OUT_DIR/summary.json. Nothing in ``calibration/`` is written: the
committed calibration has no launch cohorts, and adopting them means calibrating again (stage
A's posterior, then stage B), not a refinement of one point.

``launch_cohorts_start.json`` is in the coordinates of its day (``choice_logit``, the 40-59
band's level, laid over that day's record): run it on commit 9ebb149 to redo the probe. Since
``choice_level`` replaced it, the script varies ``choice_level``, and a start file naming
``choice_logit`` is refused with the conversion formula.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

from calibration.loss import count_log_rmse, errors, loss
from calibration.objective import Objective, SearchSpace
from calibration.pipeline import CALIBRATED_JSON as RECORD
from calibration.targets import load_targets, training_targets
from infra.atomic import atomic_write_json
from model import ParameterError, Uncertainties

NAMES = (
    "external_rate_urban",
    "q_imitation",
    "open_share_urban",
    "awareness_media",
    "awareness_doctor",
    "choice_level",
    "repeat_odds",
    "doctolib_rollout_weeks",
    "open_specialist",
    "open_health_centre",
    "summer_need_drop",
    "doctolib_idf_odds",
    "doctolib_pull",
    "open_hospital",
    "open_urban",
    "open_age60",
    "launch_awareness_weeks",
)
MARGIN = 0.045
SHARE_PENALTY_SCALE = 0.005
HELD_OUT = 8


#: The 2018-2019 training figures, read once (every evaluation scores them).
FITTED = tuple(training_targets(load_targets(), None, windows=("2018-2019",)))
#: A one-parameter space: ``Objective`` runs a full parameter set given as ``base`` plus the
#: coordinates of its space, so any one searched name serves (its value is taken from the set).
SPACE = SearchSpace.from_specs(["external_rate_urban"])


def _figures(values: dict, seeds: tuple[int, ...]) -> dict:
    """Loss, count log-RMSE, share penalty and every error of ``values`` on ``seeds``."""
    objective = Objective(SPACE, FITTED, seeds, 100, values)
    fitted = list(FITTED)
    sims = objective.replicates(SPACE.coords(values))
    if isinstance(sims, float):  # a runaway run
        return {"loss": objective.score(sims), "penalty": 0.0, "count_log_rmse": float("nan")}
    mean = sims.mean(axis=0)
    err = errors(fitted, mean)
    shares = np.array([not t.is_count for t in fitted])
    over = np.clip(np.abs(err[shares]) - MARGIN, 0.0, None)
    return {
        "loss": loss(fitted, mean),
        "penalty": float((over**2).sum() / SHARE_PENALTY_SCALE**2),
        "count_log_rmse": count_log_rmse(fitted, mean),
        "largest_share_error": float(np.abs(err[shares]).max()),
        "errors": {t.id: float(e) for t, e in zip(fitted, err, strict=True)},
    }


def main(out: Path, start: dict, evaluations: int = 500, seeds: int = 4) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    committed = json.loads(RECORD.read_text())["uncertainties"]
    base = {**committed, "launch_cohort_scale": 1.0, **start}
    train = tuple(range(1, seeds + 1))
    best = {"score": float("inf")}

    def score(x) -> float:
        values = {**base, **dict(zip(NAMES, map(float, x), strict=True))}
        try:  # out of range: refused, not clipped
            Uncertainties.from_dict(values)
        except ParameterError:
            return float("inf")
        f = _figures(values, train)
        s = f["loss"] + f["penalty"]
        if s < best["score"]:
            best.update(score=s, values=values, figures=f)
            atomic_write_json(out / "best.json", {"values": values, "train_seeds": train, **f})
        return s

    x0 = np.array([base[n] for n in NAMES], float)
    steps = np.diag([max(0.15, 0.1 * abs(v)) for v in x0])
    result = minimize(
        score,
        x0,
        method="Nelder-Mead",
        options={
            "maxfev": evaluations,
            "initial_simplex": np.vstack([x0, x0 + steps]),
            "xatol": 1e-4,
            "fatol": 1e-4,
        },
    )
    held = tuple(range(seeds + 1, seeds + 1 + HELD_OUT))
    summary = {
        "train_seeds": list(train),
        "held_out_seeds": list(held),
        "evaluations": int(result.nfev),
        "refined_on_train": best["figures"],
        "refined_held_out": _figures(best["values"], held),
        "committed_held_out": _figures(committed, held),
        "values": best["values"],
    }
    atomic_write_json(out / "summary.json", summary)
    for name in ("committed_held_out", "refined_held_out"):
        f = summary[name]
        print(
            f"{name}: loss {f['loss']:.3f}, count log-RMSE {f['count_log_rmse']:.3f}, "
            f"largest share error {f['largest_share_error']:.3f}"
        )
    return summary


if __name__ == "__main__":
    args = sys.argv[1:]
    if len(args) < 2:
        sys.exit(__doc__)
    main(
        Path(args[0]),
        json.loads(Path(args[1]).read_text())["values"],
        *(int(a) for a in args[2:4]),
    )
