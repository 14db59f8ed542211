"""``simulate``: the one callable every calibrator, experiment and page uses.

It validates its arguments, builds (or reuses) the population, runs the model and returns weekly
aggregates as pandas DataFrames. The same arguments always give bit-identical frames.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from .calendar import week_starts
from .inputs import AGE_BANDS, DOCTOR_TYPES, Inputs
from .model import PLATFORMS, TeleModel
from .params import (
    Levers,
    ParameterError,
    Uncertainties,
    coerce_uncertainties,
    read_parameter_file,
)
from .population import GP, SPECIALIST

#: Persons per patient agent by default: fine enough for smooth national and regional series,
#: coarse enough for a run to end-2021 in well under two seconds.
DEFAULT_SCALE = 100
#: The committed calibration (written by ``telesim calibrate``); read as a data file so that the
#: model never imports the calibration package.
CALIBRATED_FILE = Path(__file__).resolve().parent.parent / "calibration" / "calibrated.json"
#: Environment variable naming another parameter file to use as the best set.
UNCERTAINTIES_ENV = "TELESIM_UNCERTAINTIES"


def best_uncertainties() -> tuple[Uncertainties, str]:
    """The project's best parameter set and where it came from.

    The file named by ``$TELESIM_UNCERTAINTIES`` if set, else ``calibration/calibrated.json`` if
    it exists, else the planning defaults of :class:`Uncertainties` (not calibrated).
    """
    path = os.environ.get(UNCERTAINTIES_ENV)
    candidate = Path(path) if path else CALIBRATED_FILE
    if candidate.is_file():
        return load_uncertainties(candidate), str(candidate)
    if path:
        raise ParameterError(f"{UNCERTAINTIES_ENV}: {path!r} is not a file")
    return Uncertainties(), "planning defaults (not calibrated)"


def resolve_uncertainties(value: Uncertainties | dict | None) -> Uncertainties:
    """The uncertainties a run uses: a full :class:`Uncertainties` as it is; ``None`` the best set
    (:func:`best_uncertainties`); a mapping, even a partial one, the best set with the values it
    names changed. So an outside client (EMA Workbench, ``mesa.batch_run``) that passes only what
    it varies keeps the calibrated values of everything else.
    """
    if isinstance(value, Uncertainties):
        return value
    if value is None or isinstance(value, dict):
        return coerce_uncertainties(value or {}, base=best_uncertainties()[0])
    return coerce_uncertainties(value)  # raises the error naming the expected types


#: Keys under which a parameter file may hold its uncertainty values (else the top level).
UNCERTAINTY_KEYS = ("uncertainties", "parameters", "values")


def load_uncertainties(path: str | Path) -> Uncertainties:
    """The uncertainties of a JSON parameter file, validated.

    The file holds a JSON object of uncertainty values (missing ones keep their defaults), or such
    an object under one of :data:`UNCERTAINTY_KEYS` (a calibration file such as
    ``calibration/calibrated.json``). Raises :class:`ParameterError` naming the file, and the
    field where one is at fault, for anything else: unreadable or non-UTF-8 bytes, invalid JSON,
    another JSON value than an object, unknown names, wrong types, values out of range.
    """
    data = read_parameter_file(path, json.loads, "JSON")
    if not isinstance(data, dict):
        raise ParameterError(
            f"{path} must hold a JSON object of uncertainty values "
            "(or one under the key 'uncertainties')"
        )
    values = next((data[k] for k in UNCERTAINTY_KEYS if isinstance(data.get(k), dict)), data)
    try:
        return Uncertainties.from_dict(values, where=str(path))
    except ParameterError as exc:
        message = str(exc)
        prefixed = message if message.startswith(str(path)) else f"{path}: {message}"
        raise ParameterError(prefixed) from None


def clear_population_cache() -> None:
    """Forget the synthetic populations kept for reuse (a caller that knows a seed is used once
    frees the memory: about 50 MB per population at the default scale)."""
    from . import population  # the cache is the population module's own

    population._cache.clear()


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise ParameterError(f"seed: {seed!r} is not a whole number in [0, 2**63-1]")
    if not 0 <= int(seed) < 2**63:
        raise ParameterError(f"seed: {seed!r} is outside the allowed range [0, 2**63-1]")
    return int(seed)


def _check_scale(scale) -> int:
    if scale is None:
        return DEFAULT_SCALE
    if isinstance(scale, bool) or not isinstance(scale, int | np.integer):
        raise ParameterError(f"scale: {scale!r} is not a whole number in [1, 100000]")
    if not 1 <= int(scale) <= 100_000:
        raise ParameterError(f"scale: {scale!r} is outside the allowed range [1, 100000]")
    return int(scale)


def run_model(
    uncertainties: Uncertainties | dict | None = None,
    levers: Levers | dict | None = None,
    seed: int = 0,
    end: str | dt.date = "2021-12-31",
    scale: int | None = None,
    inputs: Inputs | None = None,
) -> TeleModel:
    """Build and run a :class:`TeleModel`, returning it (for callers that want its state).

    The arguments are resolved as ``TeleModel``'s keywords are (:mod:`model.mesa_api`), so
    ``simulate`` and ``mesa.batch_run(TeleModel, ...)`` run the same model for the same values.
    """
    _check_seed(seed)  # here no seed is an error (TeleModel reads it as 0, Mesa's way)
    return TeleModel(
        inputs, uncertainties=uncertainties, levers=levers, seed=seed, end=end, scale=scale
    ).run()


def simulate(
    uncertainties: Uncertainties | dict | None = None,
    levers: Levers | dict | None = None,
    seed: int = 0,
    end: str | dt.date = "2021-12-31",
    scale: int | None = None,
    detail: bool = False,
    inputs: Inputs | None = None,
) -> pd.DataFrame | dict[str, pd.DataFrame]:
    """Run the model and return weekly aggregates.

    Args:
        uncertainties: behavioural parameters; None means the project's best set
            (the committed calibration once it exists, see :func:`best_uncertainties`); a dict
            (even a partial one) overlays the best set: the values it names, the best set's for
            the rest (:func:`resolve_uncertainties`).
        levers: policy levers; None means the baseline (rules and dates as they were, no COVID);
            a dict (even a partial one) overlays the baseline.
        seed: the root seed; every random stream of the run derives from it.
        end: last day covered (inclusive); row k covers 15 Sep 2018 + 7k days, 7 days.
        scale: persons per patient agent (1 = the whole population); default ``DEFAULT_SCALE``.
        detail: also return the frames by region, platform and age band.
        inputs: the sourced data (default: ``model/data``).

    Returns:
        The weekly frame, or with ``detail=True`` a dict with ``weekly``, ``by_region``,
        ``by_platform`` and ``by_age``.
    """
    m = run_model(uncertainties, levers, seed, end, scale, inputs)
    return frames(m) if detail else frames(m)["weekly"]


def frames(m: TeleModel) -> dict[str, pd.DataFrame]:
    """The run's weekly aggregates as tidy DataFrames."""
    w = m.n_weeks
    starts = pd.to_datetime(week_starts(w))
    acts_type = m.out_acts_type
    weekly = pd.DataFrame({"week_start": starts, "acts": acts_type.sum(axis=1)})
    for j, name in enumerate(DOCTOR_TYPES):
        weekly[f"acts_{name}"] = acts_type[:, j]
    for j, name in enumerate(PLATFORMS):
        weekly[f"acts_{name}"] = m.out_acts_platform[:, j]
    weekly["acts_liberal_doctor_60plus"] = m.out_acts_liberal_60
    weekly["adopting_doctors"] = m.out_adopting_type.sum(axis=1)
    for j, name in enumerate(DOCTOR_TYPES):
        weekly[f"adopting_{name}"] = m.out_adopting_type[:, j]
    weekly["billing_doctors_liberal"] = m.out_billing_liberal
    weekly["billing_doctors_week_liberal"] = m.out_billing_week_liberal
    weekly["liberal_doctors"] = int((m.pop.doctors.kind <= SPECIALIST).sum())
    weekly["billing_doctors_week_gp"] = m.out_billing_week_gp
    weekly["general_practitioners"] = int((m.pop.doctors.kind == GP).sum())
    weekly["acts_own_mt"] = m.out_acts_own_mt
    weekly["open_doctors"] = m.out_open
    new = m.out_new_age.sum(axis=1)
    weekly["new_patients"] = new
    weekly["patients_ever"] = np.cumsum(new)
    weekly["new_patients_phone"] = m.out_new_phone
    weekly["aware_share"] = m.out_aware
    weekly["stringency"] = m.out_stringency

    nr = len(m.regions)
    by_region = pd.DataFrame(
        {
            "week_start": np.repeat(starts, nr),
            "region_code": np.tile([r.code for r in m.regions], w),
            "region": np.tile([r.name for r in m.regions], w),
            "acts": m.out_acts_region.ravel(),
            "adopting_doctors": m.out_adopting_region.ravel(),
        }
    )
    by_platform = pd.DataFrame(
        {
            "week_start": np.repeat(starts, len(PLATFORMS)),
            "platform": np.tile(PLATFORMS, w),
            "acts": m.out_acts_platform.ravel(),
        }
    )
    by_age = pd.DataFrame(
        {
            "week_start": np.repeat(starts, len(AGE_BANDS)),
            "age_band": np.tile(AGE_BANDS, w),
            "acts": m.out_acts_age.ravel(),
            "new_patients": m.out_new_age.ravel(),
        }
    )
    return {"weekly": weekly, "by_region": by_region, "by_platform": by_platform, "by_age": by_age}
