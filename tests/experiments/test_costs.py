"""Public cost accounting: a hand-computed case, every lever priced or said to be free, the data."""

from __future__ import annotations

import pandas as pd
import pytest

from experiments import costs
from model import Levers
from model.calendar import WEEKS_PER_YEAR

WEEKS = 10  # 15 Sep to 23 Nov 2018: every cost falls in 2018


def _weekly(acts=100.0, doctolib=50.0, adopting=None, weeks=WEEKS) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "week_start": pd.date_range("2018-09-15", periods=weeks, freq="7D"),
            "acts": [acts] * weeks,
            "acts_doctolib": [doctolib] * weeks,
            "adopting_doctors": adopting if adopting is not None else list(range(weeks)),
        }
    )


def test_a_hand_computed_package_adds_up():
    u = costs.unit_costs()
    levers = Levers(
        coverage_rate=1.0,
        equipment_subsidy_eur=1000.0,
        equipment_subsidy_from="2018-09-15",
        awareness_campaign=0.5,
        awareness_campaign_from="2018-09-15",
        pharmacy_points=100,
        pharmacy_points_from="2018-09-15",
        platforms_free_from="2018-09-15",
    )
    row = costs.run_costs(_weekly(), levers, end="2018-11-23")
    acts = 100 * WEEKS
    assert row["acts_costed"] == pytest.approx(acts)
    assert row["cost_acts_gross"] == pytest.approx(acts * 25.0)  # 100% of the 25 EUR tariff
    assert row["cost_acts_net"] == pytest.approx(acts * 25.0 * (1.0 - 0.7))  # above in person
    assert row["cost_equipment_aid"] == pytest.approx(1000.0 * (WEEKS - 1))  # once per doctor
    doctor_weeks = sum(range(WEEKS))
    platform = 0.5 * doctor_weeks * 79.0 * 12 / WEEKS_PER_YEAR  # Doctolib's half of the doctors
    assert row["cost_platform_subsidy"] == pytest.approx(platform)
    assert row["cost_campaign"] == pytest.approx(0.5 * 5e6 * WEEKS / WEEKS_PER_YEAR)
    assert row["cost_pharmacy_points"] == pytest.approx(100 * 1225.0)  # first year only
    others = row["cost_equipment_aid"] + platform + row["cost_campaign"] + 100 * 1225.0
    assert row["cost_net"] == pytest.approx(row["cost_acts_net"] + others)
    assert row["cost_gross"] == pytest.approx(row["cost_acts_gross"] + others)
    assert row["cost_net_2018"] == pytest.approx(row["cost_net"])
    assert u["tariff_eur"] == 25.0 and u["in_person_insurance_share"] == 0.7


def test_baseline_acts_cost_nothing_net_and_the_aid_pays_earlier_adopters_at_its_start():
    # the baseline aid (525 EUR) starts on 1 Jan 2019: week 15 (29 Dec 2018 - 4 Jan 2019)
    weeks = 30
    weekly = _weekly(10.0, 0.0, [min(k, 20) for k in range(weeks)], weeks)
    euros = costs.weekly_costs(weekly, Levers())
    assert (euros["acts_net"] == 0).all()  # 70% coverage: what the in-person one cost
    assert euros["acts_gross"].sum() == pytest.approx(10 * weeks * 25 * 0.7)
    paid = euros["equipment_aid"]
    assert (paid.iloc[:15] == 0).all()
    assert paid.iloc[15] == pytest.approx(15 * 525)  # the 15 doctors equipped before the start
    assert paid.sum() == pytest.approx(20 * 525)  # each doctor once
    assert euros["platform_subsidy"].sum() == 0 and euros["campaign"].sum() == 0


def test_pharmacy_points_pay_the_first_year_then_yearly_aids():
    weeks = 80
    weekly = _weekly(0.0, 0.0, [0] * weeks, weeks)
    euros = costs.weekly_costs(
        weekly, Levers(pharmacy_points=10, pharmacy_points_from="2018-09-15")
    )
    yearly = (350 + 300) / WEEKS_PER_YEAR
    later = weeks - round(WEEKS_PER_YEAR)
    assert euros["pharmacy_points"].sum() == pytest.approx(10 * (1225 + later * yearly))


def test_every_lever_says_how_it_costs():
    names = [s["name"] for s in Levers.specs()]
    assert sorted(costs.LEVER_COSTS) == sorted(names)
    items = {*costs.ITEMS, "none", "unpriced"}
    assert {item for item, _ in costs.LEVER_COSTS.values()} <= items
    assert costs.unpriced({"digital_inclusion": 0.5, "coverage_rate": 1.0}) == ["digital_inclusion"]
    assert costs.unpriced({"digital_inclusion": 0.0}) == []
    with pytest.raises(costs.CostDataError, match="gravity"):
        costs.cost_item("gravity")


def test_the_unit_cost_file_is_complete_and_every_row_explained(tmp_path):
    table = costs.unit_cost_table()
    assert set(costs.REQUIRED) <= set(table["name"])
    assert set(table["kind"]) <= set(costs.KINDS)
    assert table["note"].str.len().min() > 20
    assert (table.loc[table["kind"] == "assumption", "note"].str.startswith("assumption")).all()
    bad = tmp_path / "costs.csv"
    text = costs.COSTS_CSV.read_text().replace(",sourced,", ",guessed,", 1)
    bad.write_text(text)
    with pytest.raises(costs.CostDataError, match="guessed"):
        costs.unit_costs(bad)
    bad.write_text("\n".join(costs.COSTS_CSV.read_text().splitlines()[:-1]) + "\n")
    with pytest.raises(costs.CostDataError, match="missing"):
        costs.unit_costs(bad)


def test_cost_per_extra_act_is_paired():
    rows = []
    for seed, (base_acts, base_cost) in enumerate([(100.0, 1000.0), (200.0, 2000.0)]):
        rows.append(
            {"label": "baseline", "param_id": "p", "seed": seed}
            | {"acts_costed": base_acts, "cost_net": base_cost}
        )
        rows.append(
            {"label": "policy", "param_id": "p", "seed": seed}
            | {"acts_costed": base_acts + 50, "cost_net": base_cost + 500}
        )
    table = costs.cost_per_extra_act(pd.DataFrame(rows))
    row = table.iloc[0]
    assert row["label"] == "policy" and row["n"] == 2
    assert row["extra_acts"] == pytest.approx(50) and row["extra_cost"] == pytest.approx(500)
    assert row["eur_per_extra_act"] == pytest.approx(10.0)
