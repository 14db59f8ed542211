""":class:`~model.model.TeleModel` as Mesa users build and read it.

* **Keyword parameters.** ``TeleModel(coverage_rate=1.0, q_imitation=0.4, seed=3)``: any lever or
  uncertainty by name, plus ``seed`` (or Mesa's ``rng``), ``end`` and ``scale``. What is not named
  comes from the project's best set (:func:`model.simulate.best_uncertainties`, as ``simulate``
  uses) and the baseline levers; the objects ``uncertainties`` and ``levers`` (full, or partial
  dicts) may be passed too, and keywords overlay them. So ``mesa.batch_run(TeleModel,
  parameters={"coverage_rate": [0.7, 1.0]})`` runs what ``simulate(levers={"coverage_rate": ...})``
  runs, bit for bit. :func:`model_arguments` does the resolution; ``simulate`` goes through it too.
* **DataCollector.** :func:`model_reporters`: one value per week, read from the weekly arrays the
  engine already fills (no pass over agents), named like the columns of ``simulate``'s weekly
  frame.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any

from .params import Levers, ParameterError, Uncertainties, coerce_levers

#: The run's last day when none is given (as ``simulate``).
DEFAULT_END = "2021-12-31"
#: Keywords of TeleModel other than levers and uncertainties.
RUN_KEYWORDS = ("inputs", "population", "uncertainties", "levers", "seed", "rng", "end", "scale")
LEVER_NAMES = frozenset(f.name for f in fields(Levers))
UNCERTAINTY_NAMES = frozenset(f.name for f in fields(Uncertainties))


def split_parameters(parameters: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(levers, uncertainties)`` named in ``parameters``; an unknown name is a
    :class:`ParameterError` naming it (and the closest known names)."""
    levers = {k: v for k, v in parameters.items() if k in LEVER_NAMES}
    unc = {k: v for k, v in parameters.items() if k in UNCERTAINTY_NAMES}
    unknown = sorted(set(parameters) - set(levers) - set(unc))
    if unknown:
        known = sorted(LEVER_NAMES | UNCERTAINTY_NAMES | set(RUN_KEYWORDS))
        hints = {n: difflib.get_close_matches(n, known, n=3) for n in unknown}
        hint = "; ".join(f"{n!r}: did you mean {h}?" for n, h in hints.items() if h)
        raise ParameterError(
            f"TeleModel: unknown parameter(s) {unknown}"
            + (f" ({hint})" if hint else "")
            + "; a parameter is a lever or an uncertainty by name (docs/model.md lists them), "
            f"or one of {list(RUN_KEYWORDS)}"
        )
    return levers, unc


def model_arguments(
    inputs=None,
    population=None,
    uncertainties: Uncertainties | dict | None = None,
    levers: Levers | dict | None = None,
    seed: int | None = None,
    end: str | dt.date | None = None,
    scale: int | None = None,
    rng: int | None = None,
    parameters: Mapping[str, Any] | None = None,
):
    """What a :class:`TeleModel` is built from: ``(inputs, population, uncertainties, levers,
    seed, end)``, every one validated (:class:`ParameterError` naming the field otherwise).

    ``parameters`` holds levers and uncertainties by name: they overlay ``levers`` (default: the
    baseline) and ``uncertainties`` (default: the best set; a dict overlays it, a full
    :class:`Uncertainties` is used as it is). ``rng`` is Mesa's name for the seed (an integer);
    no seed means 0, as in ``simulate``.
    The population is built (or reused) for ``(inputs, scale, seed)`` unless given.
    """
    from .calendar import parse_end
    from .inputs import load_inputs
    from .population import build_population
    from .simulate import _check_scale, _check_seed, resolve_uncertainties

    lever_values, unc_values = split_parameters(parameters or {})
    if unc_values and isinstance(uncertainties, Uncertainties):
        unc = uncertainties.replace(**unc_values)
    elif unc_values:
        unc = resolve_uncertainties({**(uncertainties or {}), **unc_values})
    else:
        unc = resolve_uncertainties(uncertainties)
    lev = coerce_levers(levers)
    if lever_values:
        lev = Levers.from_dict(lever_values, base=lev)
    if rng is not None:
        if seed is not None and seed != rng:
            raise ParameterError(f"seed {seed!r} and rng {rng!r}: give one of them")
        seed = rng
    seed = _check_seed(0 if seed is None else seed)

    if population is None:
        scale = _check_scale(scale)
        end_date = parse_end(DEFAULT_END if end is None else end)
        inputs = inputs if inputs is not None else load_inputs()
        population = build_population(inputs, scale, seed)
    else:
        if inputs is None:
            raise ParameterError("TeleModel: a population needs the inputs it was built from")
        if scale is not None and _check_scale(scale) != population.scale:
            raise ParameterError(
                f"scale: {scale!r} differs from the given population's ({population.scale})"
            )
        end_date = parse_end(DEFAULT_END if end is None else end)
    return inputs, population, unc, lev, seed, end_date


# --------------------------------------------------------------------------------------------
# DataCollector


def _column(name: str, j: int, m) -> int:
    return int(getattr(m, name)[m.week - 1, j])


@functools.cache
def model_reporters() -> dict[str, Callable[[Any], Any]]:
    """The DataCollector's model-level reporters, one value per week, named like the columns of
    ``simulate``'s weekly frame: ``week_start``; ``acts`` (the week's acts), ``acts_<type>`` by
    doctor type and ``acts_<platform>``; ``acts_total`` (acts so far); ``adopting_doctors``;
    ``new_patients`` (persons teleconsulting for the first time that week) and ``patients_ever``
    (so far)."""
    from .calendar import week_start
    from .inputs import DOCTOR_TYPES
    from .model import PLATFORMS

    reporters: dict[str, Callable[[Any], Any]] = {
        "week_start": lambda m: week_start(m.week - 1),
        "acts": lambda m: int(m.out_acts_type[m.week - 1].sum()),
    }
    for j, name in enumerate(DOCTOR_TYPES):
        reporters[f"acts_{name}"] = functools.partial(_column, "out_acts_type", j)
    for j, name in enumerate(PLATFORMS):
        reporters[f"acts_{name}"] = functools.partial(_column, "out_acts_platform", j)
    reporters.update(
        {
            "acts_total": lambda m: int(m.out_acts_type[: m.week].sum()),
            "adopting_doctors": lambda m: int(m.out_adopting_type[m.week - 1].sum()),
            "new_patients": lambda m: int(m.out_new_age[m.week - 1].sum()),
            "patients_ever": lambda m: int(m.out_new_age[: m.week].sum()),
        }
    )
    return reporters


__all__ = ["model_arguments", "model_reporters", "split_parameters"]
