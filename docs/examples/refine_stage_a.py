"""Refine the committed stage-A best set on more seeds (step 5 of the committed calibration,
docs/calibration.md).

    python docs/examples/refine_stage_a.py NAMES START [EVALUATIONS [SEEDS]]

NAMES is a comma-separated list of stage-A uncertainties, START a JSON list of their starting
values. scipy's Nelder-Mead minimises the loss of the 2018-2019 training figures averaged over
SEEDS replicate seeds (default 3: seeds 1-3, where differential evolution and ABC score one),
1 agent per 100 persons, the other uncertainties at ``calibration/calibrated.json``'s values,
for at most EVALUATIONS evaluations (default 200; about 0.2 s each). If the refined set scores
lower than the record's best set on the same seeds, it becomes the record's best set
(``uncertainties``, ``best_from``, stage A's ``refined`` block), written atomically; the
posterior is not touched. Stage B's point must then be refit given it (``refit_stage_b.py``).
"""

from __future__ import annotations

import json
import sys

import numpy as np
from scipy.optimize import minimize

from calibration.objective import Objective, SearchSpace
from calibration.pipeline import CALIBRATED_JSON as RECORD
from calibration.targets import load_targets, training_targets
from infra.atomic import atomic_write_json
from model import ParameterError, Uncertainties


def main(names: list[str], start: list[float], evaluations: int = 200, seeds: int = 3) -> dict:
    record = json.loads(RECORD.read_text())
    base = record["uncertainties"]
    fitted = training_targets(load_targets(), None, windows=("2018-2019",))
    space = SearchSpace.from_specs(names)
    objective = Objective(
        space,
        tuple(fitted),
        tuple(range(1, seeds + 1)),
        100,
        {k: v for k, v in base.items() if k not in space.names},
    )

    def score(values: dict) -> float:  # in parameter values, as Nelder-Mead searches them
        try:  # out of range: refused, not clipped as the objective would
            Uncertainties.from_dict({**base, **values})
        except ParameterError:
            return float("inf")
        return objective(space.coords({**base, **values}))

    before = score({})
    result = minimize(
        lambda x: score(dict(zip(names, map(float, x), strict=True))),
        np.asarray(start, float),
        method="Nelder-Mead",
        options={"maxfev": evaluations, "xatol": 1e-3, "fatol": 1e-3},
    )
    refined = dict(zip(names, map(float, result.x), strict=True))
    out = {"loss_before": before, "loss_after": float(result.fun), "values": refined}
    print(json.dumps(out, indent=1))
    if result.fun < before:
        record["uncertainties"].update(refined)
        record["best_from"] = (
            "point estimate of stage A, refined by Nelder-Mead on "
            f"{seeds} seeds ({', '.join(names)})"
        )
        record["stages"]["A"]["refined"] = {
            "method": "scipy Nelder-Mead on the 2018-2019 training figures",
            "params": names,
            "start": [float(v) for v in start],
            "seeds": list(objective.seeds),
            "scale": 100,
            "evaluations": int(result.nfev),
            **out,
        }
        atomic_write_json(RECORD, record)
    return out


if __name__ == "__main__":
    args = sys.argv[1:]
    if len(args) < 2:
        sys.exit(__doc__)
    main(args[0].split(","), json.loads(args[1]), *(int(a) for a in args[2:4]))
