"""The cheapest-package search: its search space, the chance constraint on common random numbers,
resuming, and the Pareto front."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from experiments import cheapest, costs
from experiments.outcomes import annual_split
from experiments.runner import run_experiment
from experiments.scenarios import load_scenario
from model import Levers, simulate

pytest.importorskip("platypus", reason="the 'decision' extra (ema-workbench) is not installed")

END, SCALE = "2019-12-31", 20000
TARGETS = {2019: 200_000}  # between the baseline's and the strongest packages' 2019 totals
LEVERS = ["known_patient_rule_until", "coverage_rate", "awareness_campaign"]


def test_dimensions_run_from_cheap_to_strong_inside_the_lever_ranges():
    for d in cheapest.SEARCH_SPACE:
        assert costs.cost_item(d.lever) != "unpriced"
        for u in (0.0, 0.013, 0.5, 0.97, 1.0):
            Levers().replace(**{d.lever: d.value(u)})  # validated: in range, right type
        assert d.value(0.0) == d.cheap or (d.cheap is None and d.value(0.0) is None)
        assert d.value(1.0) == (
            d.strong if not isinstance(d.strong, dt.date) else dt.date(2018, 9, 15)
        )
        for u in (0.0, 0.25, 0.5, 1.0):  # the position of a grid value gives back that value
            assert d.value(d.position(d.value(u))) == d.value(u)
    with pytest.raises(ValueError, match="unknown"):
        cheapest.search_space(["gravity"])


def test_a_campaign_date_without_a_campaign_is_the_baseline_date():
    dims = cheapest.search_space(["awareness_campaign", "awareness_campaign_from"])
    off = cheapest.package_levers(dims, [0.0, 0.7])
    assert off["awareness_campaign_from"] == Levers().to_dict()["awareness_campaign_from"]
    assert cheapest.package_label(off) == cheapest.package_label(
        cheapest.package_levers(dims, [0.0, 0.2])
    )
    on = cheapest.package_levers(dims, [0.5, 0.7])
    assert on["awareness_campaign"] == 1.0 and on["awareness_campaign_from"] != "2018-09-15"


def test_pareto_front_keeps_only_undominated_packages():
    points = pd.DataFrame(
        {"cost": [1.0, 2.0, 2.0, 3.0, 5.0], "p": [0.0, 0.5, 0.3, 0.5, 1.0]}, index=list("abcde")
    )
    assert list(cheapest.pareto_front(points, "cost", "p").index) == ["a", "b", "e"]


@pytest.fixture(scope="module")
def searched(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cheapest")
    run_experiment(
        [load_scenario("baseline")], replicates=3, out=out, end=END, scale=SCALE,
        params="best", progress=False,
    )  # fmt: skip
    cheapest.run_cheapest(
        out, levers=LEVERS, evaluations=8, population=4, targets=TARGETS, progress=False
    )
    return out


def test_the_cheapest_package_meets_the_level_when_re_run_on_the_same_replicates(searched):
    result = cheapest.analyse(searched)
    answers = result["answers"]
    assert set(answers["level"]) == {0.5, 0.9} and set(answers["year"]) == {2019}
    archive = result["archive"]
    assert archive["p_2019"].min() < 0.5 < archive["p_2019"].max()  # a real trade-off
    plan = result["record"]["plan"]
    design = pd.read_json(searched / "experiment.json", typ="series")
    for r in answers[answers["found"]].to_dict("records"):
        feasible = archive[archive["p_2019"] >= r["level"] - 1e-9]
        assert r["cost"] == feasible["cost"].min()  # the cheapest of those that meet the level
        hits = []
        for rep in plan:  # re-run the package, outside the store, on the same replicates
            weekly = simulate(
                uncertainties=design["param_sets"][rep["param_id"]]["values"],
                levers=r["levers"],
                seed=rep["seed"],
                end=END,
                scale=SCALE,
            )
            hits.append(
                annual_split(weekly["week_start"], weekly["acts"], END)[2019] >= TARGETS[2019]
            )
        assert sum(hits) / len(hits) == r["p_2019"] >= r["level"]


def test_the_search_resumes_from_disk_with_the_same_answers(searched):
    before = sorted(p.parent for p in (searched / "runs").rglob("metadata.json"))
    stamps = [p.stat().st_mtime_ns for p in before]
    first = cheapest.analyse(searched)["archive"]
    record = cheapest.run_cheapest(
        searched, levers=LEVERS, evaluations=8, population=4, targets=TARGETS, progress=False
    )
    after = sorted(p.parent for p in (searched / "runs").rglob("metadata.json"))
    assert after == before and [p.stat().st_mtime_ns for p in after] == stamps  # nothing re-run
    assert set(record["evaluated"]) == set(first["label"])
    again = cheapest.analyse(searched)["archive"]
    pd.testing.assert_frame_equal(first, again)


def test_the_report_shows_the_answers_and_the_front(searched, tmp_path):
    from experiments import report

    text = report.write_report(searched, tmp_path / "r").read_text()
    section = text.split("## Cheapest package per target")[1].split("\n## ")[0]
    assert "| 2019: 200,000 | 0.5 |" in section and "| 2019: 200,000 | 0.9 |" in section
    assert (tmp_path / "r/figures/cheapest.png").stat().st_size > 10_000
    answers = pd.read_csv(tmp_path / "r/tables/cheapest_answers.csv")
    assert len(answers) == 2
    assert "## Public cost" in text and "## Under which conditions" in text
