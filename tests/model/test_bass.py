"""The mean-field limit: with homogeneous doctors and nothing else in the way, adoption is Bass."""

import numpy as np

from model import Levers, Uncertainties, simulate
from model.calendar import WEEKS_PER_YEAR
from model.synthetic import synthetic_inputs

N_DOCTORS = 10_000


def bass_fraction(t: np.ndarray, p: float, q: float) -> np.ndarray:
    """Bass (1969) cumulative adoption fraction F(t) with F(0) = 0."""
    e = np.exp(-(p + q) * t)
    return (1 - e) / (1 + (q / p) * e)


def test_homogeneous_doctors_follow_the_bass_solution():
    p, q = 0.1, 1.5
    inputs = synthetic_inputs(doctors=(N_DOCTORS, 0, 0, 0), persons=2_000)
    # everyone open, no attribute effects, one platform from day one, no subsidy effect
    unc = Uncertainties(
        external_rate_urban=p,  # everyone open: the rate is p
        q_imitation=q,
        open_share_urban=1.0,
        open_age60=0.0,
        open_urban=0.0,
        open_group=0.0,
        subsidy_effect=0.0,
    )
    runs = [simulate(unc, Levers(doctolib=False), seed=s, scale=1, inputs=inputs) for s in range(6)]
    simulated = np.mean([r.adopting_doctors.to_numpy() / N_DOCTORS for r in runs], axis=0)
    t = (np.arange(simulated.size) + 1) / WEEKS_PER_YEAR  # row k is the state after week k
    expected = bass_fraction(t, p, q)
    assert expected[-1] > 0.9  # the whole S-curve is covered
    assert np.max(np.abs(simulated - expected)) < 0.02
