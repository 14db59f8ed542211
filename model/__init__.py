"""Agent-based model of téléconsultation adoption in France, 2018-2021.

``from model import simulate`` is the entry point; see :func:`model.simulate.simulate`.
"""

from .params import Levers, ParameterError, Uncertainties
from .simulate import (
    DEFAULT_SCALE,
    best_uncertainties,
    clear_population_cache,
    load_uncertainties,
    resolve_uncertainties,
    run_model,
    simulate,
)

__all__ = [
    "DEFAULT_SCALE",
    "Levers",
    "ParameterError",
    "Uncertainties",
    "best_uncertainties",
    "clear_population_cache",
    "load_uncertainties",
    "resolve_uncertainties",
    "run_model",
    "simulate",
]
