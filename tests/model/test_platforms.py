"""Doctolib's reach: a client who adopted another platform before Doctolib video served them
chooses again when it starts to (its launch, then the end of its rollout), with the draw of
their adoption; nothing but the platform tally moves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from model import best_uncertainties
from model.inputs import load_inputs
from model.model import TeleModel
from model.params import Levers
from model.population import HOSPITAL, build_population
from model.simulate import frames

END = "2019-09-15"
SCALE = 1000


def run(switch: bool) -> tuple[TeleModel, dict[str, pd.DataFrame]]:
    unc, _ = best_uncertainties()
    inputs = load_inputs()
    m = TeleModel(
        inputs, build_population(inputs, SCALE, 7), unc, Levers(), 7, pd.Timestamp(END).date()
    )
    if not switch:
        m._switch_to_doctolib = lambda pol: None
    while m.week < m.n_weeks:
        m.step()
    return m, frames(m)


@pytest.fixture(scope="module")
def pair():
    return run(True), run(False)


def test_only_the_platform_tally_moves(pair):
    (m, out), (m0, out0) = pair
    w, w0 = out["weekly"], out0["weekly"]
    platform = ["acts_doctolib", "acts_other"]
    pd.testing.assert_frame_equal(w.drop(columns=platform), w0.drop(columns=platform))
    np.testing.assert_array_equal(w[platform].sum(axis=1), w0[platform].sum(axis=1))
    np.testing.assert_array_equal(m.adopted, m0.adopted)
    share = w["acts_doctolib"].sum() / w["acts"].sum()
    share0 = w0["acts_doctolib"].sum() / w0["acts"].sum()
    assert share > share0 + 0.02
    # a doctor who switched never goes back; nobody leaves Doctolib
    assert not np.any((m0.platform == 0) & (m.platform != 0))


def test_after_the_rollout_every_client_chooses_as_if_adopting_now(pair):
    (m, _), _ = pair
    d = m.pop.doctors
    # Doctolib's launch cohort (the committed calibration has the cohorts on) starts on Doctolib
    # by construction, whatever its draw: every other served client chooses by its draw
    cohort = np.zeros(d.n, dtype=bool)
    cohort[m._cohort_members.get("doctolib_test", [])] = True
    assert np.all(m.platform[cohort] == 0)
    served = m.client & m.adopted & (d.kind != HOSPITAL) & ~cohort
    assert served.sum() > 20
    unc = m.unc
    p_doc = unc.doctolib_pull / (unc.doctolib_pull + 1.0)  # Doctolib at its 2019 price
    on_doctolib = m.platform[served] == 0
    np.testing.assert_array_equal(on_doctolib, d.platform_u[served] < p_doc)
    # non-clients never use Doctolib
    assert not np.any(m.platform[m.adopted & ~m.client] == 0)
