"""A model does not outlive its run: nothing global keeps it (and its engine arrays) alive.

Mesa 3.3 keys its per-model agent-id counters by the model in a class-level dict; a process that
runs many models (a calibration, an experiment) grew by its engine arrays at every run until the
models released it (:func:`model.agents.release_agent_ids`).
"""

from __future__ import annotations

import datetime as dt
import gc
import weakref

from model import Levers, Uncertainties
from model.model import TeleModel
from model.population import build_population
from model.reference import ReferenceModel
from model.synthetic import synthetic_inputs


def test_engine_and_reference_models_are_freed_after_their_run():
    inputs = synthetic_inputs(doctors=(4, 2, 1, 1), persons=200, region_code="11")
    end = dt.date(2019, 1, 31)
    engine = TeleModel(inputs, build_population(inputs, 1, 1), Uncertainties(), Levers(), 1, end)
    reference = ReferenceModel(inputs, Uncertainties(), Levers(), 1, end)
    for m in (engine, reference):
        m.step()
    refs = [weakref.ref(engine), weakref.ref(reference)]
    del engine, reference, m
    gc.collect()
    assert [r() for r in refs] == [None, None]
