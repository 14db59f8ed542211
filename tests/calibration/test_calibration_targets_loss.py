"""Targets, simulated quantities over date ranges, and the loss terms."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from calibration.loss import count_log_rmse, errors, loss, tolerance, weight
from calibration.quantities import Tables, flow_between, quantities, stock_at
from calibration.targets import Target, file_sha256, load_targets, training_targets


def _t(kind, start, end, value, bound="point", scope="France", id_="x") -> Target:
    return Target(
        id_,
        kind,
        dt.date.fromisoformat(start),
        dt.date.fromisoformat(end),
        scope,
        value,
        bound,
        "train",
        "",
        "",
    )


def test_targets_file_is_typed_and_complete():
    targets = load_targets()
    ids = {t.id for t in targets}
    assert len(ids) == len(targets)
    train = training_targets(targets)
    assert len(train) == 38
    # 25 figures of 2018-2019 and 13 of the 2020 regime, each window on its own
    assert len(training_targets(targets, windows=("2018-2019",))) == 25
    assert len(training_targets(targets, windows=("2020",))) == 13
    assert {t.use for t in targets} == {"train", "context", "target"}
    assert {"c_2019_09_15", "s_idf_year1", "d_year1", "p_year1", "s_gp_year1"} <= ids
    early = training_targets(targets, "2019-03-17")
    assert {t.id for t in early} == {
        "w_end2018",
        "m_jan2019",
        "w_midfeb2019",
        "w_2019_03_17",
        "c_2019_03_17",
        "s_gp_2019_03",
        "s_spec_2019_03",
        "s_cds_2019_03",
        "s_hosp_2019_03",
    }
    assert len(file_sha256()) == 64


def test_bad_targets_file_fails_loudly(tmp_path):
    bad = tmp_path / "observed.csv"
    bad.write_text(
        "id,kind,period_start,period_end,scope,value,bound,use,source,note\n"
        "a,weekly_count,2019-01-01,2019-01-07,France,10,roughly,train,s,n\n"
    )
    with pytest.raises(ValueError, match="bound 'roughly'"):
        load_targets(bad)


def test_a_steady_flow_is_read_pro_rata_by_days():
    ws = np.array(["2018-09-15", "2018-09-22", "2018-09-29"], dtype="datetime64[D]")
    # 7 acts a week: 20-30 September is 2 + 7 + 2 days, one act a day
    assert flow_between(ws, np.full(3, 7.0), dt.date(2018, 9, 20), dt.date(2018, 9, 30)) == (
        pytest.approx(11.0)
    )
    # a stock rising steadily is interpolated by days between week ends
    assert stock_at(ws, np.array([7.0, 14.0, 21.0]), dt.date(2018, 9, 24)) == pytest.approx(10.0)


def test_week_boundaries_give_the_weeks_totals_and_no_day_is_negative():
    rng = np.random.default_rng(3)
    values = rng.gamma(0.5, 100.0, size=12)  # irregular, with near-empty weeks
    ws = np.datetime64("2020-01-04", "D") + 7 * np.arange(12)
    for k in range(12):
        start = (ws[k]).astype(dt.date)
        end = (ws[k] + 6).astype(dt.date)
        assert flow_between(ws, values, start, end) == pytest.approx(values[k])
        days = [
            flow_between(ws, values, (ws[k] + d).astype(dt.date), (ws[k] + d).astype(dt.date))
            for d in range(7)
        ]
        assert min(days) >= -1e-9
        assert sum(days) == pytest.approx(values[k])


def test_a_surge_puts_a_weeks_acts_on_its_later_days():
    """Twelve times the acts in a week (March 2020): the days of the surge week nearer the quiet
    week get less than a flat seventh each, the ones nearer the next big week more."""
    ws = np.datetime64("2020-03-07", "D") + 7 * np.arange(4)
    values = np.array([20_000.0, 24_000.0, 280_000.0, 660_000.0])
    first_two = flow_between(ws, values, dt.date(2020, 3, 21), dt.date(2020, 3, 22))
    last_two = flow_between(ws, values, dt.date(2020, 3, 26), dt.date(2020, 3, 27))
    assert first_two < 2 / 7 * values[2] < last_two
    # the week of 16-22 March reads less than the flat split, which gives it 2/7 of the surge
    flat = 5 / 7 * values[1] + 2 / 7 * values[2]
    assert flow_between(ws, values, dt.date(2020, 3, 16), dt.date(2020, 3, 22)) < flat


def _frames(n=10):
    starts = pd.date_range("2018-09-15", periods=n, freq="7D")
    weekly = pd.DataFrame(
        {
            "week_start": starts,
            "acts": np.full(n, 70.0),
            "acts_general_practitioner": np.full(n, 35.0),
            "acts_specialist": np.full(n, 14.0),
            "acts_health_centre": np.full(n, 14.0),
            "acts_hospital": np.full(n, 7.0),
            "acts_doctolib": np.full(n, 7.0),
            "acts_liberal_doctor_60plus": np.full(n, 7.0),
            "billing_doctors_liberal": np.arange(1, n + 1) * 7.0,
            "new_patients": np.full(n, 10.0),
            "billing_doctors_week_liberal": np.full(n, 6.0),
            "liberal_doctors": np.full(n, 20.0),
            "billing_doctors_week_gp": np.full(n, 5.0),
            "general_practitioners": np.full(n, 8.0),
        }
    )
    by_region = pd.DataFrame(
        {
            "week_start": np.repeat(starts, 2),
            "region_code": ["11", "84"] * n,
            "acts": [28.0, 42.0] * n,
        }
    )
    bands = ["0-19", "20-39", "40-59", "60-74", "75+"]
    by_age = pd.DataFrame(
        {
            "week_start": np.repeat(starts, 5),
            "age_band": bands * n,
            "new_patients": [1.0, 4.0, 2.0, 3.0, 0.0] * n,
        }
    )
    return {"weekly": weekly, "by_region": by_region, "by_age": by_age}


def test_quantities_match_the_documented_mappings():
    targets = [
        _t("weekly_count", "2018-09-16", "2018-09-29", 1),
        _t("cumulative_count", "2018-09-15", "2018-10-01", 1),
        _t("share_of_acts", "2018-09-15", "2018-10-20", 0.5, scope="health_centre"),
        _t("share_of_acts", "2018-09-15", "2018-10-20", 0.5, scope="liberal_doctor"),
        _t("share_of_acts", "2018-09-15", "2018-10-20", 0.5, scope="Ile-de-France"),
        _t("share_of_acts", "2018-09-15", "2018-10-20", 0.5, scope="Doctolib"),
        _t("share_of_liberal_acts", "2018-09-15", "2018-10-20", 0.5, scope="general_practitioner"),
        _t("share_of_liberal_acts", "2018-09-15", "2018-10-20", 0.5, scope="doctor_age_60_plus"),
        _t("share_of_patients", "2018-09-15", "2018-10-20", 0.5, scope="age_under_40"),
        _t("share_of_patients", "2018-09-15", "2018-10-20", 0.5, scope="age_under_30"),
        _t("share_of_patients", "2018-09-15", "2018-10-20", 0.5, scope="age_70_plus"),
        _t("doctors_count", "2018-09-15", "2018-09-28", 1),
        _t("patients_count", "2018-09-15", "2018-09-28", 1),
        _t("doctors_billing_weekly", "2018-09-22", "2018-09-28", 1, scope="liberal_doctor"),
        _t(
            "share_of_doctors_billing_weekly", "2018-09-22", "2018-09-28", 1, scope="liberal_doctor"
        ),
        _t(
            "share_of_doctors_billing_weekly",
            "2018-09-22",
            "2018-09-28",
            1,
            scope="general_practitioner",
        ),
        _t("cumulative_count", "2018-09-15", "2019-09-15", 1),  # beyond the run: unknown
    ]
    q = quantities(_frames(), targets)
    expected = [70, 70 * 17 / 7, 0.2, 0.7, 0.4, 0.1, 35 / 49, 7 / 49, 0.5, 0.3, 0.1, 14, 20]
    expected += [6, 6 / 20, 5 / 8]  # doctors billing a week; as a share of liberal doctors, of GPs
    np.testing.assert_allclose(q[:-1], expected)
    assert np.isnan(q[-1])
    assert np.isnan(quantities(Tables(_frames()["weekly"][["week_start", "acts"]]), targets)[2])


def test_loss_is_log_scale_for_counts_and_one_sided_for_lower_bounds():
    point = _t("monthly_count", "2019-01-01", "2019-01-31", 1000)
    lower = _t("monthly_count", "2019-01-01", "2019-01-31", 1000, bound="lower")
    share = _t("share_of_acts", "2019-01-01", "2019-01-31", 0.4, scope="hospital")
    # doubling and halving a count cost the same
    assert errors([point], [2000])[0] == pytest.approx(-errors([point], [500])[0])
    assert loss([point], [1000 * np.exp(tolerance(point))]) == pytest.approx(1.0)
    # a lower bound only penalises a shortfall
    assert loss([lower], [5000]) == 0.0
    assert loss([lower], [1000 * np.exp(-0.05)]) == pytest.approx(1.0)
    assert loss([share], [0.43]) == pytest.approx(1.0)
    # NaN targets (not produced by a model) are left out
    assert loss([point, share], [1000, np.nan]) == 0.0
    assert count_log_rmse([point, lower], [2000, 10]) == pytest.approx(np.log(2))


def test_documented_weights():
    targets = {t.id: t for t in load_targets()}
    assert weight(targets["s_doctolib_2019_09"]) == 0.5
    assert weight(targets["m_aug2019"]) == 0.5
    assert weight(targets["s_idf_year1"]) == 1.0
