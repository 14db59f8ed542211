"""The few, rich actors: regions and platforms, as ``mesa.Agent``s.

Doctors and patients are many and simple, so they live as numpy arrays in the model (see
``model/population.py``); regions and platforms are few and carry their own logic, so they are
ordinary Mesa agents that the model steps each week.
"""

from __future__ import annotations

import math

import mesa
import numpy as np

from .calendar import WEEKS_PER_YEAR
from .policy import WeekPolicy
from .population import GP

#: INSEE code of Île-de-France, where Doctolib opened video to GPs first (francetvinfo, Jan 2019).
ILE_DE_FRANCE = "11"


def release_agent_ids(model: mesa.Model) -> None:
    """Drop ``model`` from Mesa's class-level agent-id counters.

    Mesa 3.3 numbers agents from ``mesa.Agent._ids``, a dict keyed by the model; the entry keeps
    every model ever built alive with its engine arrays (a calibration or an experiment in one
    process grew by about 30 MB a run at coarse scale). Called once a model has created all its
    agents (ours create none later); a no-op where Mesa keeps the counter elsewhere.
    """
    ids = getattr(mesa.Agent, "_ids", None)
    if isinstance(ids, dict):
        ids.pop(model, None)


class RegionAgent(mesa.Agent):
    """A region: its population and the awareness of téléconsultation among its inhabitants.

    Awareness exposure is a cumulative hazard (media, campaigns, word of mouth from the region's
    users); a patient is aware once their own threshold falls below ``1 - exp(-exposure)``, so
    awareness never reverts.
    """

    def __init__(self, model: mesa.Model, index: int, code: str, name: str, persons: float):
        super().__init__(model)
        self.index = index
        self.code = code
        self.name = name
        self.persons = persons
        self.exposure = 0.0  # cumulative awareness hazard
        self.users = 0.0  # persons who have teleconsulted at least once

    @property
    def aware_share(self) -> float:
        """Share aware from regional exposure alone (before their own doctor's offer)."""
        return -math.expm1(-self.exposure)

    def step(self) -> None:
        unc, pol = self.model.unc, self.model.policy
        rate = (
            unc.awareness_media
            + pol.campaign
            + pol.lockdown_awareness
            + unc.awareness_wom * self.users / self.persons
        )
        self.exposure += rate / WEEKS_PER_YEAR


class PlatformAgent(mesa.Agent):
    """A video platform: which doctors it serves this week and how strongly it pulls them."""

    def __init__(self, model: mesa.Model, index: int, name: str, label: str):
        super().__init__(model)
        self.index = index
        self.name = name
        self.label = label

    def pull(self, pol: WeekPolicy, doctors, idx: np.ndarray) -> np.ndarray | float:
        """Attraction of this platform for doctors ``idx`` (0 where it offers them no video)."""
        raise NotImplementedError


class OtherPlatforms(PlatformAgent):
    """The smaller video providers (Livi, Qare, Hellocare...), open to all doctors from day one."""

    def pull(self, pol: WeekPolicy, doctors, idx: np.ndarray) -> float:
        return 1.0 if pol.other_available else 0.0


class Doctolib(PlatformAgent):
    """Doctolib video: its booking clients only; Île-de-France GPs first, then everyone."""

    def __init__(self, model, index, name, label, idf_index: int):
        super().__init__(model, index, name, label)
        self.idf_index = idf_index

    def pull(self, pol: WeekPolicy, doctors, idx: np.ndarray) -> np.ndarray | float:
        unc = self.model.unc
        if pol.doctolib_all:
            served = self.model.client[idx]
        elif pol.doctolib_first:
            served = (
                self.model.client[idx]
                & (doctors.region[idx] == self.idf_index)
                & (doctors.kind[idx] == GP)
            )
        else:
            return 0.0
        price = math.exp(unc.price_effect * (1.0 - pol.doctolib_price_eur / 79.0))
        return served * (unc.doctolib_pull * price)
