"""The vectorised engine and the one-object-per-agent reference agree in distribution."""

import numpy as np
import pytest

from model import Uncertainties, simulate
from model.reference import simulate_reference
from model.synthetic import synthetic_inputs

REPLICATES = 8
END = "2020-03-31"

#: Outcomes compared: totals over the run and end-of-run states.
OUTCOMES = {
    "acts": lambda w: w["acts"].sum(),
    "acts_2019": lambda w: w.loc[w.week_start.dt.year == 2019, "acts"].sum(),
    "acts_general_practitioner": lambda w: w["acts_general_practitioner"].sum(),
    "acts_doctolib": lambda w: w["acts_doctolib"].sum(),
    "adopting_doctors": lambda w: w["adopting_doctors"].iloc[-1],
    "patients_ever": lambda w: w["patients_ever"].iloc[-1],
}


@pytest.fixture(scope="module")
def runs():
    # a small Île-de-France-coded region (Doctolib's first phase applies), all doctor types
    inputs = synthetic_inputs(doctors=(40, 20, 5, 5), persons=2_000, region_code="11")
    unc = Uncertainties(
        p_external=0.5,
        q_imitation=2.0,
        open_share=0.3,
        choice_logit=-1.0,
        awareness_media=1.0,
        awareness_doctor=5.0,
    )
    engine = [simulate(unc, seed=s, scale=1, inputs=inputs, end=END) for s in range(REPLICATES)]
    reference = [
        simulate_reference(inputs, unc, seed=1000 + s, end=END)["weekly"] for s in range(REPLICATES)
    ]
    return engine, reference


@pytest.mark.parametrize("outcome", sorted(OUTCOMES))
def test_engine_matches_reference_in_distribution(runs, outcome):
    engine, reference = runs
    f = OUTCOMES[outcome]
    a = np.array([f(w) for w in engine], dtype=float)
    b = np.array([f(w) for w in reference], dtype=float)
    se = np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    diff = abs(a.mean() - b.mean())
    assert b.mean() > 0
    # within 3.5 standard errors of the difference and 15% of the reference mean
    assert diff <= 3.5 * se, (outcome, a.mean(), b.mean(), se)
    assert diff <= 0.15 * b.mean(), (outcome, a.mean(), b.mean())
