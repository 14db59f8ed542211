"""The engine's exact samplers (model/model.py) against their laws, and its bookkeeping.

The engine draws counts instead of acts: these tests check each count sampler on many draws
(means and variances against the closed forms, totals exactly), where a small bias would go
unnoticed in whole-model comparisons with the reference.
"""

import numpy as np
import pytest

from model import Uncertainties, run_model
from model.model import (
    ACT_BY_ACT,
    distinct_persons,
    expand,
    hypergeometric,
    keep_columns,
    split_hypergeometric,
    split_multinomial,
    stable_order,
)

DRAWS = 40_000


def close(sample, mean, var, z=5.0):
    """Sample mean within z standard errors of the law's mean, variance within 10%."""
    sample = np.asarray(sample, dtype=float)
    assert abs(sample.mean() - mean) <= z * np.sqrt(var / sample.size) + 1e-12, (
        sample.mean(),
        mean,
    )
    assert abs(sample.var() - var) <= 0.1 * var + 1e-9, (sample.var(), var)


def hypergeom_mv(total, good, sample):
    """Mean and variance of the number of good items in a uniform sample without replacement."""
    p = good / total
    var = sample * p * (1 - p) * (total - sample) / (total - 1) if total > 1 else 0.0
    return sample * p, var


@pytest.mark.parametrize(
    ("good", "total", "sample"),
    [(1, 10, 3), (3, 50, 20), (4, 7, 4), (20, 60, 25), (2, 1000, 900), (150, 400, 3)],
)
def test_hypergeometric_law(good, total, sample):
    rng = np.random.default_rng(1)
    n = np.full(DRAWS, 1)
    x = hypergeometric(rng, good * n, total * n, sample * n)
    assert x.min() >= max(0, good + sample - total) and x.max() <= min(good, sample)
    close(x, *hypergeom_mv(total, good, sample))


def test_split_hypergeometric_keeps_exactly_and_uniformly():
    rng = np.random.default_rng(2)
    counts = np.array([3, 0, 5, 1, 7, 2, 2])
    runs = np.array([0, 0, 0, 0, 1, 1, 1])  # two runs: 9 items keep 6, 11 items keep 10
    nsample = np.array([6, 0, 0, 0, 10, 0, 0])
    # DRAWS copies of the pattern, each its own pair of runs
    labels = (np.arange(DRAWS)[:, None] * 2 + runs).ravel()
    kept = split_hypergeometric(rng, np.tile(counts, DRAWS), labels, np.tile(nsample, DRAWS))
    kept = kept.reshape(DRAWS, counts.size)
    assert (kept <= counts).all() and (kept >= 0).all()
    assert (kept[:, :4].sum(axis=1) == 6).all() and (kept[:, 4:].sum(axis=1) == 10).all()
    for i, (total, want) in enumerate([(9, 6)] * 4 + [(11, 10)] * 3):
        if counts[i]:
            close(kept[:, i], *hypergeom_mv(total, counts[i], want))


def test_keep_columns_keeps_exactly_and_uniformly():
    rng = np.random.default_rng(3)
    table = np.array([[4, 0, 1], [0, 3, 1], [6, 2, 0], [1, 0, 5], [2, 9, 0]])  # 5 x 3
    want = np.array([5, 10, 7])
    kept = keep_columns(rng, np.tile(table, DRAWS), np.tile(want, DRAWS))
    kept = kept.reshape(table.shape[0], DRAWS, table.shape[1])
    assert (kept <= table[:, None, :]).all() and (kept >= 0).all()
    assert (kept.sum(axis=0) == want).all()
    for i in range(table.shape[0]):
        for j in range(table.shape[1]):
            if table[i, j]:
                close(kept[i, :, j], *hypergeom_mv(table[:, j].sum(), table[i, j], want[j]))


def test_split_multinomial_shares_in_proportion():
    rng = np.random.default_rng(4)
    weights = np.array([1, 0, 3, 6, 5, 5])
    runs = np.array([0, 0, 0, 0, 1, 1])
    n = np.array([12, 0, 0, 0, 3, 0])
    labels = (np.arange(DRAWS)[:, None] * 2 + runs).ravel()
    x = split_multinomial(rng, np.tile(weights, DRAWS), labels, np.tile(n, DRAWS))
    x = x.reshape(DRAWS, weights.size)
    assert (x[:, :4].sum(axis=1) == 12).all() and (x[:, 4:].sum(axis=1) == 3).all()
    assert (x[:, 1] == 0).all()
    for i, (total, m) in enumerate([(10, 12)] * 4 + [(10, 3)] * 2):
        p = weights[i] / total
        if p:
            close(x[:, i], m * p, m * p * (1 - p))


@pytest.mark.parametrize(
    ("acts", "persons"), [(2, 2), (3, 100), (10, 12), (40, 40), (ACT_BY_ACT + 50, 150)]
)
def test_distinct_persons_follows_the_occupancy_law(acts, persons):
    """k acts by uniform persons among n reach n(1 - (1 - 1/n)^k) distinct ones on average (act
    by act, and by geometric waiting times for agents with many acts)."""
    rng = np.random.default_rng(5)
    got = distinct_persons(rng, np.full(DRAWS, acts), np.full(DRAWS, persons))
    assert got.min() >= 1 and got.max() <= min(acts, persons)
    q1, q2 = (1 - 1 / persons) ** acts, (1 - 2 / persons) ** acts
    mean = persons * (1 - q1)
    var = persons * (persons - 1) * q2 + persons * q1 - (persons * q1) ** 2
    close(got, mean, var)


def test_distinct_persons_trivial_cases():
    rng = np.random.default_rng(6)
    acts = np.array([0, 1, 5, 7, 1])
    persons = np.array([3, 1, 1, 9, 9])
    got = distinct_persons(rng, acts, persons)
    assert got[0] == 0 and got[1] == 1 and got[2] == 1 and got[4] == 1
    assert 1 <= got[3] <= 7


def test_expand_and_stable_order():
    idx, row = expand(np.array([5, 0, 9]), np.array([2, 0, 3]))
    assert idx.tolist() == [5, 6, 9, 10, 11] and row.tolist() == [0, 0, 2, 2, 2]
    keys = np.random.default_rng(7).integers(0, 50, 10_000)
    assert np.array_equal(stable_order(keys), np.argsort(keys, kind="stable"))


def test_cells_bookkeeping_stays_consistent():
    """After a run, every cell's live list holds exactly its non-user persons (W), within its
    aware ties, and every agent is in the live list of each aware tie while it has non-users."""
    m = run_model(Uncertainties(), {"covid": True}, seed=2, end="2020-06-30", scale=1000)
    c, s = m.cells, m.pop.scale
    n = c.n
    assert (c.fill[:n] <= c.aware[:n]).all() and (c.aware[:n] <= c.size[:n]).all()
    slot, row = expand(c.start[:n], c.fill[:n])
    live = s - m.users[c.entries[slot]].astype(np.int64)
    assert np.array_equal(np.bincount(row, weights=live, minlength=n), c.W[:n])
    # new users recorded by first tie add up to the persons who ever teleconsulted
    assert c.users[:n].sum() == m.patients_ever
