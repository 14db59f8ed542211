"""The weekly policy: each regulatory change is its own dated lever, the pandemic's demand follows
the stringency index, and the history switches remove one component at a time."""

import datetime as dt
from dataclasses import replace

import numpy as np
import pytest

from model import Levers, Uncertainties, rules
from model.calendar import n_weeks_until
from model.inputs import load_inputs
from model.policy import (
    august_share,
    lockdown_demand,
    summer_day_weight,
    summer_dip,
    uptake,
    week_policy,
    weekly_stringency,
)

INPUTS = load_inputs()
N_WEEKS = n_weeks_until(dt.date(2021, 12, 31))
PERSONS = 6.7e7


def week_of(day: str) -> int:
    return (dt.date.fromisoformat(day) - dt.date(2018, 9, 15)).days // 7


def policy(day: str, levers: Levers | None = None, unc: Uncertainties | None = None):
    levers, unc = levers or Levers(), unc or Uncertainties()
    demand = lockdown_demand(INPUTS, levers, unc, N_WEEKS)
    return week_policy(week_of(day), levers, unc, INPUTS.events, INPUTS.constants, PERSONS, demand)


def test_reference_copay_is_the_2018_co_payment():
    assert rules.REFERENCE_COPAY == pytest.approx(1.0 - INPUTS.constants["coverage_rate_2018"])


def test_weekly_stringency_averages_days_and_pads():
    daily = np.arange(14, dtype=float) * 10  # two weeks from the model's first day
    s = weekly_stringency(daily, dt.date(2018, 9, 15), 3)
    assert s == pytest.approx([0.3, 1.0, 1.3])  # the last week keeps the last value
    before = weekly_stringency(np.full(7, 50.0), dt.date(2018, 9, 22), 2)
    assert before == pytest.approx([0.0, 0.5])  # days before the series count as 0


def test_without_the_pandemic_nothing_of_2020_happens():
    for day in ("2019-06-01", "2020-04-15", "2020-11-10", "2021-10-15"):
        p = policy(day)
        assert p.stringency == 0 and p.rules_waiver == 0 and not p.phone
        assert p.coverage == pytest.approx(0.7) and p.open_shift == 0 and p.choice_shift == 0
        assert p.capacity_share == Uncertainties().max_video_share
        assert not p.known_waived_desert


def test_history_as_it_happened():
    unc = Uncertainties()
    h = Levers(covid=True)
    april = policy("2020-05-02", h, unc)  # first lockdown, after the phone decree
    assert april.stringency > 0.8 and april.phone
    assert april.coverage == 1.0 and april.doctolib_price_eur == 0.0
    assert april.rules_waiver == pytest.approx(unc.covid_waiver_reach)
    assert april.need_factor == pytest.approx(1 - unc.lockdown_need_drop * april.stringency)
    assert april.external_multiplier == pytest.approx(1 + unc.lockdown_pull * april.stringency)
    march = policy("2020-03-01", h, unc)
    assert not march.phone and march.stringency < april.stringency
    # the summer: phone no longer paid (10 Jul - 16 Oct 2020), openness pressure kept
    august = policy("2020-08-15", h, unc)
    assert not august.phone and august.stringency < april.stringency
    assert august.open_shift == pytest.approx(april.open_shift)
    # the second lockdown comes from the index alone
    november = policy("2020-11-10", h, unc)
    assert november.stringency > 0.7 and november.phone
    # Avenant 9: the 20% cap, and the known-patient rule lifted in under-served areas
    autumn21 = policy("2021-10-15", h, unc)
    assert autumn21.capacity_share == pytest.approx(
        min(unc.max_video_share, INPUTS.constants["avenant9_activity_cap"])
    )
    assert autumn21.known_waived_desert and autumn21.rules_waiver == 0


def test_lockdown_memory_fades_with_its_half_life():
    h = Levers(covid=True)
    short = lockdown_demand(INPUTS, h, replace(Uncertainties(), lockdown_memory_weeks=2.0), N_WEEKS)
    long = lockdown_demand(INPUTS, h, replace(Uncertainties(), lockdown_memory_weeks=30.0), N_WEEKS)
    k = week_of("2020-08-15")
    assert long.memory[k] > short.memory[k] + 0.1  # the long memory holds more of April
    assert np.all(short.memory >= short.excess)
    assert short.memory[k] < 0.05  # two-week half-life: gone by August


def test_choice_shift_follows_the_excess_over_the_threshold():
    h = Levers(covid=True)
    unc = Uncertainties(lockdown_threshold=0.6, lockdown_choice=4.0, lockdown_memory=0.0)
    demand = lockdown_demand(INPUTS, h, unc, N_WEEKS)
    assert np.all(demand.excess[demand.stringency <= 0.6] == 0)
    april, august = policy("2020-04-15", h, unc), policy("2020-08-15", h, unc)
    assert august.stringency > 0.4 and august.choice_shift == 0  # masks, but back to the office
    assert april.choice_shift == pytest.approx(4.0 * (april.stringency - 0.6) / 0.4)
    assert np.all(np.diff(demand.peak) >= 0)  # the pressure ratchet never falls


def test_uptake_takes_rises_in_over_its_half_life_and_falls_at_once():
    step = np.array([0.0, 0.8, 0.8, 0.8, 0.8, 0.3, 0.3, 0.9])
    assert np.array_equal(uptake(step, 0.0), step)  # 0: the index itself
    r = uptake(step, 2.0)
    # after two weeks at 0.8 half the gap is closed; the rise never overshoots
    assert r[2] == pytest.approx(0.4)
    assert np.all(np.diff(r[:5]) > 0) and np.all(r[:5] < 0.8)
    assert r[5] == 0.3 and r[6] == 0.3  # a fall at once
    assert 0.3 < r[7] < 0.9
    assert np.all(uptake(step, 6.0)[1:5] < r[1:5])  # a longer half-life is slower


def test_first_lockdown_is_taken_in_over_weeks_while_needs_drop_at_once():
    h = Levers(covid=True)
    unc = Uncertainties(lockdown_uptake_weeks=1.5, lockdown_threshold=0.5, lockdown_choice=4.0)
    demand = lockdown_demand(INPUTS, h, unc, N_WEEKS)
    k = week_of("2020-03-21")  # first full week of the first lockdown (index 88)
    assert demand.stringency[k] > 0.85
    assert demand.response[k] < 0.7 * demand.stringency[k]
    assert demand.response[k + 3] > 0.9 * demand.stringency[k]  # three weeks on, nearly all
    p = policy("2020-03-21", h, unc)
    assert p.need_factor == pytest.approx(1 - unc.lockdown_need_drop * p.stringency)
    assert p.external_multiplier == pytest.approx(1 + unc.lockdown_pull * demand.response[k])
    assert p.choice_shift < policy("2020-04-11", h, unc).choice_shift
    assert np.all(np.diff(demand.peak) >= 0) and np.all(demand.peak <= demand.stringency.max())
    instant = lockdown_demand(INPUTS, h, replace(unc, lockdown_uptake_weeks=0.0), N_WEEKS)
    assert np.array_equal(instant.response, instant.stringency)


def test_second_line_takes_the_lockdown_in_later_and_feels_a_share_of_it():
    """Specialists and hospital doctors follow the index with a longer half-life, and their
    openness shift and extra pull are ``lockdown_second_line_pressure`` of what GPs get."""
    h = Levers(covid=True)
    unc = Uncertainties(
        lockdown_uptake_weeks=1.0,
        lockdown_second_line_lag_weeks=3.0,
        lockdown_second_line_pressure=0.5,
    )
    demand = lockdown_demand(INPUTS, h, unc, N_WEEKS)
    k = week_of("2020-03-21")
    assert np.all(demand.second_response <= demand.response + 1e-12)
    assert demand.second_response[k] < 0.5 * demand.response[k]  # half-life 4 weeks, not 1
    p = policy("2020-03-21", h, unc)
    assert p.open_shift == pytest.approx(unc.lockdown_open * demand.peak[k])
    assert p.second_line_open_shift == pytest.approx(
        0.5 * unc.lockdown_open * demand.second_peak[k]
    )
    assert p.second_line_external_multiplier == pytest.approx(
        1 + 0.5 * unc.lockdown_pull * demand.second_response[k]
    )
    same = replace(unc, lockdown_second_line_lag_weeks=0.0, lockdown_second_line_pressure=1.0)
    d = lockdown_demand(INPUTS, h, same, N_WEEKS)
    assert np.array_equal(d.second_response, d.response)
    q = policy("2020-03-21", h, same)  # the defaults: the second line as the first, exactly
    assert q.second_line_open_shift == q.open_shift
    assert q.second_line_external_multiplier == q.external_multiplier


@pytest.mark.parametrize(
    "switch, field, with_it, without_it",
    [
        ("covid_rules_waiver", "rules_waiver", 0.3, 0.0),
        ("covid_full_coverage", "coverage", 1.0, 0.7),
        ("covid_free_platforms", "doctolib_price_eur", 0.0, Levers().doctolib_price_eur),
        ("covid_phone", "phone", True, False),
    ],
)
def test_each_history_switch_removes_one_component(switch, field, with_it, without_it):
    unc = Uncertainties(covid_waiver_reach=0.3)
    full = policy("2020-05-02", Levers(covid=True), unc)
    less = policy("2020-05-02", Levers(covid=True, **{switch: False}), unc)
    assert getattr(full, field) == pytest.approx(with_it)
    assert getattr(less, field) == pytest.approx(without_it)
    for other in ("stringency", "need_factor", "open_shift", "choice_shift"):
        assert getattr(less, other) == getattr(full, other)


def test_without_lockdown_demand_the_regulation_stays():
    p = policy("2020-05-02", Levers(covid=True, covid_demand=False))
    assert p.stringency == 0 and p.choice_shift == 0 and p.need_factor == 1.0
    assert p.phone and p.coverage == 1.0


def test_levers_apply_the_2020_rules_without_the_pandemic():
    start = dt.date(2018, 9, 15)
    levers = Levers(
        rules_waiver_from=start,
        rules_waiver_scope=1.0,
        full_coverage_from=start,
        platforms_free_from=start,
        phone_from=start,
    )
    p = policy("2019-03-01", levers)
    assert p.rules_waiver == 1.0 and p.coverage == 1.0 and p.phone
    assert p.doctolib_price_eur == 0.0 and p.stringency == 0.0


def test_august_drop():
    assert august_share(week_of("2019-08-10")) == 1.0 and august_share(week_of("2019-06-01")) == 0
    unc = Uncertainties(summer_need_drop=0.3)
    assert policy("2019-08-10", unc=unc).need_factor == pytest.approx(0.7)
    assert policy("2019-06-01", unc=unc).need_factor == 1.0


def test_flat_summer_dip_is_the_month_of_august():
    assert all(summer_dip(k, 0.0) == august_share(k) for k in range(N_WEEKS))


@pytest.mark.parametrize("width", [3.0, 5.0, 12.0])
def test_spread_summer_dip_keeps_the_august_mean_and_peaks_at_15_august(width):
    for year in (2019, 2020):
        august = [summer_day_weight(dt.date(year, 8, d), width) for d in range(1, 32)]
        assert np.mean(august) == pytest.approx(1.0)
        assert max(august) == summer_day_weight(dt.date(year, 8, 15), width) > 1.0
    outside = [summer_day_weight(dt.date(2019, m, 15), width) for m in (1, 3, 5, 11)]
    assert max(outside) < 1e-6  # no dip far from August
    ends = (
        summer_day_weight(dt.date(2019, 7, 31), width),
        summer_day_weight(dt.date(2019, 9, 1), width),
    )
    assert 0.0 < min(ends) and max(ends) < 1.0  # a little of it leaks past the month's ends


def test_narrower_summer_dip_deepens_the_week_after_15_august():
    """The model week of 19 August 2020 (15-21 August, where most of the training figure's week
    of 17-23 August falls) loses more as the dip narrows, never more than all of its needs."""
    deep = Uncertainties(summer_need_drop=0.6, summer_peak_days=1.0)
    needs = [
        policy(
            "2020-08-19", unc=Uncertainties(summer_need_drop=0.3, summer_peak_days=w)
        ).need_factor
        for w in (0.0, 12.0, 6.0, 3.0)
    ]
    assert needs == sorted(needs, reverse=True) and needs[0] == pytest.approx(0.7)
    assert policy("2020-08-15", unc=deep).need_factor == 0.0


def test_summer_peak_days_out_of_range_names_the_field():
    with pytest.raises(ValueError, match="summer_peak_days"):
        Uncertainties(summer_peak_days=20.0)
