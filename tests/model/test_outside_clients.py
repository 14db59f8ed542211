"""Outside clients pass only what they vary: a partial dict overlays the best set (uncertainties)
or the baseline (levers), bit for bit."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from model import Levers, ParameterError, Uncertainties, best_uncertainties, simulate

RUN = {"seed": 7, "end": "2019-06-30", "scale": 20000}


@pytest.fixture(scope="module")
def plain() -> pd.DataFrame:
    return simulate(**RUN)


def test_one_calibrated_value_passed_back_changes_nothing(plain):
    best = best_uncertainties()[0]
    for name in ("q_imitation", "choice_level"):
        again = simulate(uncertainties={name: getattr(best, name)}, **RUN)
        pd.testing.assert_frame_equal(again, plain, check_exact=True)
    pd.testing.assert_frame_equal(simulate(uncertainties={}, **RUN), plain, check_exact=True)


def test_a_partial_dict_overlays_the_best_set_not_the_planning_defaults():
    best = best_uncertainties()[0]
    value = 0.5 if best.q_imitation != 0.5 else 0.6
    partial = simulate(uncertainties={"q_imitation": value}, **RUN)
    full = simulate(uncertainties=best.replace(q_imitation=value), **RUN)
    pd.testing.assert_frame_equal(partial, full, check_exact=True)


def test_a_full_uncertainties_object_is_used_as_it_is(tmp_path, monkeypatch):
    # a best set that differs from the planning defaults in one value
    path = tmp_path / "best.json"
    path.write_text(json.dumps({"uncertainties": {"choice_level": -1.0}}))
    monkeypatch.setenv("TELESIM_UNCERTAINTIES", str(path))
    assert best_uncertainties()[0] == Uncertainties(choice_level=-1.0)
    defaults = simulate(uncertainties=Uncertainties(), **RUN)
    overlaid = simulate(uncertainties={"q_imitation": Uncertainties().q_imitation}, **RUN)
    best = simulate(uncertainties=Uncertainties(choice_level=-1.0), **RUN)
    pd.testing.assert_frame_equal(overlaid, best, check_exact=True)
    assert not overlaid["acts"].equals(defaults["acts"])


def test_a_partial_levers_dict_overlays_the_baseline(plain):
    same = simulate(levers={"coverage_rate": Levers().coverage_rate}, **RUN)
    pd.testing.assert_frame_equal(same, plain, check_exact=True)
    changed = simulate(levers={"awareness_campaign": 1.0}, **RUN)
    expected = simulate(levers=Levers(awareness_campaign=1.0), **RUN)
    pd.testing.assert_frame_equal(changed, expected, check_exact=True)


def test_an_overlay_is_validated_like_a_full_set():
    with pytest.raises(ParameterError, match="q_imitation"):
        simulate(uncertainties={"q_imitation": -1.0}, **RUN)
    with pytest.raises(ParameterError, match="gravity"):
        simulate(uncertainties={"gravity": 1.0}, **RUN)
    with pytest.raises(ParameterError, match="expected Uncertainties"):
        simulate(uncertainties=[1, 2], **RUN)
