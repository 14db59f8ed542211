"""Calibration of the model's uncertainties against the observed 2018-2019 figures.

One module per job: ``targets`` (the observed figures), ``quantities`` (their simulated
counterparts), ``loss``, ``objective`` (search space and replicated objective), ``search``
(checkpointed differential evolution), ``ensemble`` (parameter uncertainty), ``bass`` (the
baseline), ``report`` and ``pipeline`` (one run end to end). The command is ``telesim calibrate``
(``cli/calibrate_cmd.py``).
"""

from .pipeline import CalibrationSettings, calibrate
from .search import SearchSettings
from .targets import load_targets, training_targets

__all__ = [
    "CalibrationSettings",
    "SearchSettings",
    "calibrate",
    "load_targets",
    "training_targets",
]
