"""The what-if page's Python side (the ``app`` package).

The browser test (``test_dashboard_browser.py``) drives the served page; these check, without a
browser, that the page has a control for every lever with the lever's own range, that what it
displays is what ``simulate`` computes, and that SolaraViz's stepping works week by week.
``telesim dashboard``'s options are tested in ``tests/cli/test_dashboard_cmd.py``.
"""

from __future__ import annotations

import datetime as dt
import math

import pytest

from experiments.outcomes import annual_totals
from model import Levers, ParameterError, simulate


@pytest.fixture(scope="module")
def app():
    """The page's modules (imported here: the session state runs the baseline, a few seconds)."""
    import types

    from app import charts, controls, state, whatif

    return types.SimpleNamespace(charts=charts, controls=controls, state=state, whatif=whatif)


def test_every_lever_has_a_labelled_control_with_its_own_range(app):
    grouped = {name for members in app.controls.GROUPS.values() for name in members}
    for spec in Levers.specs():
        name = spec["name"]
        assert name in app.controls.LABELS, name
        assert name in grouped, name
        if spec["type"] in ("float", "int"):
            step = app.controls.slider_step(spec)
            positions = (spec["high"] - spec["low"]) / step
            assert step > 0 and positions >= 10, (name, step)
            # the slider lands exactly on the baseline value and on both ends
            k = (spec["default"] - spec["low"]) / step
            assert math.isclose(k, round(k), abs_tol=1e-9), (name, step)
            assert math.isclose(positions, round(positions), abs_tol=1e-9), (name, step)
        if spec["type"] == "dt.date|None":
            assert name in app.controls.OPTIONAL_DATE_LABELS, name


def test_the_page_opens_on_the_baseline_and_shows_what_simulate_computes(app):
    m = app.state.current.value
    assert m.finished and m.settings == app.whatif.Settings()
    expected = annual_totals(simulate(seed=m.settings.seed), app.whatif.END)
    shown = m.view().annual
    for year in app.whatif.YEARS:
        assert shown[year] == pytest.approx(expected[year], rel=1e-12), year
    html = app.charts.totals_html(m)
    for year in app.whatif.YEARS:
        assert f'data-testid="total-{year}">{expected[year]:,.0f}<' in html
    assert 'data-testid="annual-totals"' in html
    images = app.charts.chart_images(m)
    assert set(images) == {"weekly", "cumulative", "doctors", "types", "regions"}
    assert all(png.startswith(b"\x89PNG") and len(png) > 5_000 for png in images.values())
    assert len(m.view().region_totals) == 18


def test_solaraviz_steps_the_model_week_by_week(app):
    full = app.state.current.value.view().weekly
    m = app.whatif.WhatIfModel(app.whatif.Settings())  # what SolaraViz's Reset builds: week 0
    assert m.weeks_done == 0 and m.running
    for _ in range(3):
        m.step()
    assert m.weeks_done == 3 and m.steps == 3 and m.running
    view = m.view()
    assert len(view.weekly) == 3
    assert view.weekly["acts"].tolist() == full["acts"].iloc[:3].tolist()
    assert view.last_day == dt.date(2018, 10, 5)
    assert 'data-testid="total-2019">—<' in app.charts.totals_html(m)  # 2019 not reached yet


def test_settings_are_validated_with_the_levers_rules(app):
    bad = app.whatif.Settings(levers={**app.whatif.default_lever_values(), "coverage_rate": 1.5})
    with pytest.raises(ParameterError, match="coverage_rate"):
        bad.to_levers()


def test_scenario_selector_loads_scenario_levers(app):
    names = app.whatif.scenario_names()
    assert names[0] == "baseline"
    assert app.whatif.load_scenario_settings("baseline", seed=3).to_levers() == Levers()
    if "no_known_patient_rule" not in names:
        pytest.skip("experiments/scenarios has no no_known_patient_rule scenario")
    s = app.whatif.load_scenario_settings("no_known_patient_rule", seed=3)
    assert s.seed == 3 and s.levers["known_patient_rule_until"] is not None
