"""The what-if page's Python side (``model/app.py``) and ``telesim dashboard``'s options.

The browser test (``test_dashboard_browser.py``) drives the served page; these check, without a
browser, that the page has a control for every lever with the lever's own range, that what it
displays is what ``simulate`` computes, and that SolaraViz's stepping works week by week.
"""

from __future__ import annotations

import datetime as dt
import math

import pytest

from model import Levers, ParameterError, simulate
from telesim.cli import build_parser
from telesim.dashboard_cmd import server_command
from telesim.run_cmd import annual_totals


@pytest.fixture(scope="module")
def app():
    """The page module (imported here: its import runs the baseline, a few seconds)."""
    import model.app

    return model.app


def test_every_lever_has_a_labelled_control_with_its_own_range(app):
    grouped = {name for members in app.GROUPS.values() for name in members}
    for spec in Levers.specs():
        name = spec["name"]
        assert name in app.LABELS, name
        assert name in grouped, name
        if spec["type"] in ("float", "int"):
            step = app._slider_step(spec)
            positions = (spec["high"] - spec["low"]) / step
            assert step > 0 and positions >= 10, (name, step)
            # the slider lands exactly on the baseline value and on both ends
            k = (spec["default"] - spec["low"]) / step
            assert math.isclose(k, round(k), abs_tol=1e-9), (name, step)
            assert math.isclose(positions, round(positions), abs_tol=1e-9), (name, step)
        if spec["type"] == "dt.date|None":
            assert name in app.OPTIONAL_DATE_LABELS, name


def test_the_page_opens_on_the_baseline_and_shows_what_simulate_computes(app):
    m = app.current.value
    assert m.finished and m.settings == app.Settings()
    expected = annual_totals(simulate(seed=m.settings.seed), app.END)
    shown = m.view().annual
    for year in app.YEARS:
        assert shown[year] == pytest.approx(expected[year], rel=1e-12), year
    html = app.totals_html(m)
    for year in app.YEARS:
        assert f'data-testid="total-{year}">{expected[year]:,.0f}<' in html
    assert 'data-testid="annual-totals"' in html
    images = app.chart_images(m)
    assert set(images) == {"weekly", "cumulative", "doctors", "types", "regions"}
    assert all(png.startswith(b"\x89PNG") and len(png) > 5_000 for png in images.values())
    assert len(m.view().region_totals) == 18


def test_solaraviz_steps_the_model_week_by_week(app):
    full = app.current.value.view().weekly
    m = app.WhatIfModel(app.Settings())  # what SolaraViz's Reset builds: week 0
    assert m.weeks_done == 0 and m.running
    for _ in range(3):
        m.step()
    assert m.weeks_done == 3 and m.steps == 3 and m.running
    view = m.view()
    assert len(view.weekly) == 3
    assert view.weekly["acts"].tolist() == full["acts"].iloc[:3].tolist()
    assert view.last_day == dt.date(2018, 10, 5)
    assert 'data-testid="total-2019">—<' in app.totals_html(m)  # 2019 not reached yet


def test_settings_are_validated_with_the_levers_rules(app):
    bad = app.Settings(levers={**app.default_lever_values(), "coverage_rate": 1.5})
    with pytest.raises(ParameterError, match="coverage_rate"):
        bad.to_levers()


def test_scenario_selector_loads_scenario_levers(app):
    names = app.scenario_names()
    assert names[0] == "baseline"
    assert app.load_scenario_settings("baseline", seed=3).to_levers() == Levers()
    if "no_known_patient_rule" not in names:
        pytest.skip("experiments/scenarios has no no_known_patient_rule scenario")
    s = app.load_scenario_settings("no_known_patient_rule", seed=3)
    assert s.seed == 3 and s.levers["known_patient_rule_until"] is not None


def test_dashboard_options_and_server_command():
    args = build_parser().parse_args(["dashboard"])
    assert (args.host, args.port) == ("127.0.0.1", 8765)
    args = build_parser().parse_args(["dashboard", "--port", "9001", "--host", "localhost"])
    assert (args.host, args.port) == ("localhost", 9001)
    for bad in ("0", "70000", "http"):
        with pytest.raises(SystemExit) as exc:
            build_parser().parse_args(["dashboard", "--port", bad])
        assert exc.value.code == 2
    cmd = server_command("127.0.0.1", 9001)
    assert cmd[1:5] == ["-m", "solara", "run", "model.app"]
    assert "--production" in cmd and cmd[cmd.index("--port") + 1] == "9001"
