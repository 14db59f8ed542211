"""The two-layer Bass baseline the agent-based model is compared with (model brief §6).

Layer 1: liberal doctors who bill video follow a Bass curve, ``N(t) = M F(t)`` with
``F(t) = (1 - exp(-(p+q)t)) / (1 + (q/p) exp(-(p+q)t))``, t in years from 15 Sep 2018.
Layer 2: all reimbursed acts are proportional to them, ``a N(t)`` acts a week (health-centre and
hospital acts are assumed to grow in step). Four parameters (p, q, M, a), searched on a log10
scale, fitted to the same targets with the same loss; targets it cannot speak to (shares,
patients, and every figure of the 2020 window: a Bass curve has no COVID) are left out of its loss
and its prediction for them is NaN. When the doctor count is not among the fitted targets
(``--until 2019-03-17``) only ``a M`` is identified and its doctor prediction is meaningless.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import differential_evolution

from .loss import loss
from .quantities import quantities
from .targets import Target, last_day, window

#: The window a Bass curve can speak to (it has no COVID).
BASS_WINDOW = "2018-2019"

NAMES = ("p", "q", "M", "a")
#: log10 bounds: p, q per year; M liberal doctors (of about 120,000); a acts per doctor per week.
LOG_BOUNDS = ((-4.0, 0.5), (-2.0, 1.5), (2.5, 5.0), (-1.5, 1.5))
YEAR_DAYS = 365.25


@dataclass(frozen=True)
class BassFit:
    params: dict[str, float]
    loss: float


def bass_share(t_years: np.ndarray, p: float, q: float) -> np.ndarray:
    e = np.exp(-(p + q) * np.asarray(t_years, dtype=float))
    return (1.0 - e) / (1.0 + (q / p) * e)


def weekly_frame(params: dict[str, float], end: str) -> pd.DataFrame:
    """Weekly acts and liberal billing doctors of the baseline, on the model's week grid."""
    days = (np.datetime64(end, "D") - np.datetime64("2018-09-15", "D")).astype(int)
    n = days // 7 + 1
    starts = np.datetime64("2018-09-15", "D") + 7 * np.arange(n)
    mid = (7 * np.arange(n) + 3.5) / YEAR_DAYS
    stop = (7 * np.arange(n) + 7) / YEAR_DAYS
    p, q, m, a = (params[k] for k in NAMES)
    return pd.DataFrame(
        {
            "week_start": pd.to_datetime(starts),
            "acts": a * m * bass_share(mid, p, q),
            "billing_doctors_liberal": m * bass_share(stop, p, q),
        }
    )


def _params(z) -> dict[str, float]:
    return {k: float(10.0**v) for k, v in zip(NAMES, z, strict=True)}


class _BassLoss:
    def __init__(self, targets: list[Target]):
        self.targets = targets
        self.end = last_day(targets).isoformat()

    def __call__(self, z) -> float:
        return loss(self.targets, quantities(weekly_frame(_params(z), self.end), self.targets))


def fit(targets: list[Target], seed: int = 0) -> BassFit:
    """Fit the baseline to ``targets`` (deterministic for a given seed)."""
    objective = _BassLoss([t for t in targets if window(t) == BASS_WINDOW])
    res = differential_evolution(
        objective, LOG_BOUNDS, rng=np.random.default_rng(seed), tol=1e-8, maxiter=400, polish=True
    )
    return BassFit(params=_params(res.x), loss=float(res.fun))


def predict(fit_: BassFit, targets: list[Target]) -> np.ndarray:
    """The baseline's value for each target (NaN where it has none)."""
    out = quantities(weekly_frame(fit_.params, last_day(targets).isoformat()), targets)
    out[[window(t) != BASS_WINDOW for t in targets]] = np.nan
    return out
