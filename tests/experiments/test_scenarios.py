"""Scenario files: the shipped ones load; malformed ones are refused naming file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from experiments.scenarios import (
    ScenarioError,
    available_scenarios,
    load_scenario,
    standard_scenarios,
)
from model import Levers

ROOT = Path(__file__).resolve().parents[2]
REQUIRED = {
    "baseline",
    "no_doctolib",
    "doctolib_at_start",
    "no_known_patient_rule",
    "open_access",
    "full_coverage",
    "equipment_subsidy",
    "awareness_campaign",
    "pharmacy_points",
    "target_deserts",
    "all_levers",
    "as_it_happened",
    "rules_2020_no_pandemic",
    "phone",
}


def test_shipped_scenarios_load_and_baseline_is_the_default_levers():
    names = available_scenarios()
    assert REQUIRED <= set(names)
    assert names[0] == "baseline"
    assert load_scenario("baseline").levers == Levers()
    scenarios = {s.name: s for s in standard_scenarios()}
    assert scenarios["as_it_happened"].levers.covid is True
    assert load_scenario("covid_2020") == load_scenario("as_it_happened")  # former name
    assert scenarios["no_known_patient_rule"].changed_levers() == {
        "known_patient_rule_until": "2018-09-15"
    }
    # every other scenario changes something; only the history and its decomposition (the
    # history less one component) switch COVID on
    for name, sc in scenarios.items():
        if name != "baseline":
            assert sc.changed_levers(), name
        history = sc.group in ("history", "decomposition")
        assert sc.levers.covid is history, name
        if sc.group == "decomposition":
            off = [k for k, v in sc.changed_levers().items() if k != "covid"]
            assert len(off) == 1 and off[0].startswith("covid_"), name


def test_a_user_file_with_overrides_and_none_dates(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(
        'description = "mine"\n[levers]\ncoverage_rate = 0.9\nknown_patient_rule_until = "none"\n'
        "[uncertainties]\nrepeat_odds = 6\n"
    )
    sc = load_scenario(str(path))
    assert sc.name == "mine" and sc.group == "custom"
    assert sc.levers.coverage_rate == 0.9 and sc.levers.known_patient_rule_until is None
    assert sc.uncertainty_overrides == {"repeat_odds": 6.0}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('description = "x"\n[levers]\ncoverage_rat = 0.9\n', "coverage_rat"),
        ('description = "x"\n[levers]\ncoverage_rate = "high"\n', "coverage_rate"),
        ('description = "x"\n[levers]\ncoverage_rate = 1.5\n', "outside the allowed range"),
        ('description = "x"\n[levers]\ndoctolib = 1\n', "levers.doctolib"),
        ('description = "x"\n[levers]\ndoctolib_launch = 2017-01-01\n', "doctolib_launch"),
        ('description = "x"\n[uncertainties]\nrepeat_odds = 0.5\n', "repeat_odds"),
        ('description = "x"\n[uncertainties]\nno_such = 1\n', "no_such"),
        ('description = "x"\nlevres = {}\n', "levres"),
        ("[levers]\ncoverage_rate = 0.9\n", "description"),
        ('description = "x"\n[levers\n', "not valid TOML"),
    ],
)
def test_malformed_files_are_refused_naming_file_and_field(tmp_path, body, expected):
    path = tmp_path / "bad.toml"
    path.write_text(body)
    with pytest.raises(ScenarioError) as info:
        load_scenario(str(path))
    message = str(info.value)
    assert str(path) in message
    assert expected in message


def test_unknown_name_lists_the_available_ones():
    with pytest.raises(ScenarioError, match="available: baseline"):
        load_scenario("no_such_scenario")


def test_cli_refuses_a_malformed_file_and_writes_nothing(tmp_path, capsys):
    from cli.main import main

    bad = tmp_path / "bad.toml"
    bad.write_text('description = "x"\n[levers]\ncoverage_rate = 1.5\n')
    out = tmp_path / "exp"
    status = main(["experiment", "baseline", str(bad), "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("telesim experiment: error: ")
    assert str(bad) in err and "coverage_rate" in err and "1.5 is outside the allowed range" in err
    assert not out.exists()
