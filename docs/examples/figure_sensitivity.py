"""Which parameter moves which figure: a one-at-a-time sensitivity table around the best set.

    python docs/examples/figure_sensitivity.py WINDOW [STEP [SEEDS [OUT.csv]]]

WINDOW is ``2018-2019`` (stage A's parameters, runs to 15 Sep 2019) or ``2020`` (stage B's, runs
to 27 Sep 2020). Each parameter of the stage is moved down and up by STEP (default 0.05) of its
search range (on the log10 scale for ``external_rate_urban``, ``open_share_urban`` and
``repeat_odds``, as the search moves them; shortened near a bound, one-sided at one, and rescaled
to the full move), the others held at ``calibration/calibrated.json``'s best set. Runs
average SEEDS seeds (default 2: seeds 1..SEEDS, the same for every run: common random numbers),
1 agent per 100 persons, two worker processes.

Printed: for every point/approximate count figure of the window, the change of its log error
between the down and the up run, per move of 2 x STEP of the range (positive when the
parameter raises the figure), and the change of the window's count log-RMSE. The table shows
which figures the parameters move together: where every parameter that raises one figure
raises another as much, refitting cannot separate them and only a change of mechanism can
(docs/calibration.md).
OUT.csv (optional) gets the same table, written atomically.
"""

from __future__ import annotations

import json
import sys
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd

from calibration.loss import count_log_rmse, errors
from calibration.objective import SearchSpace, guarded_run
from calibration.pipeline import CALIBRATED_JSON as RECORD
from calibration.quantities import quantities
from calibration.stages import STAGES
from calibration.targets import Target, last_day, load_targets, training_targets
from infra.atomic import atomic_write_text
from model import Uncertainties

STAGE = {"2018-2019": STAGES[0], "2020": STAGES[1]}


def _figures(window: str) -> list[Target]:
    fitted = training_targets(load_targets(), None, windows=(window,))
    return [t for t in fitted if t.is_count and t.bound != "lower"]


def _run(job: tuple[dict, list[Target], tuple[int, ...]]) -> np.ndarray:
    values, figures, seeds = job
    unc = Uncertainties.from_dict(values)
    end = last_day(figures).isoformat()
    sims = []
    for seed in seeds:
        out = guarded_run(unc, seed, end, 100, caps=(("2030-12-31", 10**12),))
        sims.append(quantities(out, figures))
    return np.mean(sims, axis=0)


def _pair(base: dict, name: str, step: float) -> tuple[dict, dict, float]:
    """The down and up moves of ``name`` and the factor that rescales their difference to a
    move of ``2 * step`` of the search range (a move the bounds would cut is shortened, or made
    one-sided at a bound)."""
    space = SearchSpace.from_specs([name])
    lo, hi, v = space.low[0], space.high[0], float(space.coords(base)[0])
    full = step * (hi - lo)
    h = min(full, v - lo, hi - v)
    down, up = (v - h, v + h) if h > 0 else ((v, v + full) if v <= lo else (v - full, v))
    factor = 2 * full / (up - down)
    return {**base, **space.values([down])}, {**base, **space.values([up])}, factor


def table(window: str, step: float = 0.05, seeds: int = 2) -> pd.DataFrame:
    base = json.loads(RECORD.read_text())["uncertainties"]
    names = list(STAGE[window].params)
    figures = _figures(window)
    seed_list = tuple(range(1, seeds + 1))
    jobs = [(base, figures, seed_list)]
    factors = []
    for name in names:
        down, up, factor = _pair(base, name, step)
        jobs += [(down, figures, seed_list), (up, figures, seed_list)]
        factors.append(factor)
    with ProcessPoolExecutor(2) as pool:
        sims = list(pool.map(_run, jobs))
    ids = [t.id for t in figures]
    centre = sims[0]
    rows = [{"parameter": "(best set)", **dict(zip(ids, errors(figures, centre), strict=True))}]
    rows[0]["count_log_rmse"] = count_log_rmse(figures, centre)
    for i, name in enumerate(names):
        down, up = sims[1 + 2 * i], sims[2 + 2 * i]
        change = (errors(figures, up) - errors(figures, down)) * factors[i]
        row = {"parameter": name, **dict(zip(ids, change, strict=True))}
        rmse_change = count_log_rmse(figures, up) - count_log_rmse(figures, down)
        row["count_log_rmse"] = rmse_change * factors[i]
        rows.append(row)
    return pd.DataFrame(rows).set_index("parameter")


def main(argv: list[str]) -> None:
    if not 1 <= len(argv) <= 4:
        sys.exit(__doc__)
    window = argv[0]
    if window not in STAGE:
        raise SystemExit(f"WINDOW: {window!r}; allowed: {sorted(STAGE)}")
    step = float(argv[1]) if len(argv) > 1 else 0.05
    seeds = int(argv[2]) if len(argv) > 2 else 2
    out = table(window, step, seeds)
    print(out.round(3).to_string())
    if len(argv) > 3:
        atomic_write_text(argv[3], out.to_csv())


if __name__ == "__main__":
    main(sys.argv[1:])
