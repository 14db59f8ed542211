"""TeleModel as Mesa users build it: keyword parameters, a DataCollector, ``mesa.batch_run``."""

from __future__ import annotations

import datetime as dt

import mesa
import pandas as pd
import pytest

from model import Levers, ParameterError, Uncertainties, best_uncertainties, simulate
from model.calendar import week_start
from model.mesa_api import LEVER_NAMES, RUN_KEYWORDS, UNCERTAINTY_NAMES, model_reporters
from model.model import TeleModel

SMALL = {"seed": 3, "end": "2019-06-30", "scale": 5000}


def test_batch_run_returns_the_reporters_and_simulates_acts_bit_for_bit():
    rows = mesa.batch_run(
        TeleModel,
        parameters={"digital_inclusion": [0.0, 1.0]},
        max_steps=70,
        iterations=1,
        number_processes=1,
        display_progress=False,
    )
    assert [r["digital_inclusion"] for r in rows] == [0.0, 1.0]
    # Mesa steps while model.steps <= max_steps: 71 weeks, the last one reported as step 70
    end = week_start(70) + dt.timedelta(days=6)
    for row in rows:
        assert row["Step"] == 70 and set(model_reporters()) <= set(row)
        assert row["week_start"] == week_start(70)
        w = simulate(levers={"digital_inclusion": row["digital_inclusion"]}, seed=0, end=end)
        assert len(w) == 71
        assert row["acts_total"] == w["acts"].sum()
        assert row["acts"] == w["acts"].iloc[-1]
        assert row["adopting_doctors"] == w["adopting_doctors"].iloc[-1]
        assert row["patients_ever"] == w["patients_ever"].iloc[-1]
    assert rows[1]["acts_total"] > rows[0]["acts_total"]  # enabling the excluded does something


def test_keywords_build_what_simulate_runs_and_the_collector_holds_its_weekly_frame():
    best = best_uncertainties()[0]
    q = 0.5 if best.q_imitation != 0.5 else 0.6
    m = TeleModel(coverage_rate=1.0, awareness_campaign=0.5, q_imitation=q, **SMALL)
    assert m.levers == Levers(coverage_rate=1.0, awareness_campaign=0.5)
    assert m.unc == best.replace(q_imitation=q)  # the rest from the best set, not the defaults
    m.run()
    assert not m.running and m.steps == m.n_weeks
    got = m.datacollector.get_model_vars_dataframe()
    w = simulate(
        uncertainties={"q_imitation": q},
        levers={"coverage_rate": 1.0, "awareness_campaign": 0.5},
        **SMALL,
    )
    assert len(got) == len(w)
    for column in set(model_reporters()) - {"week_start", "acts_total"}:
        assert got[column].tolist() == w[column].tolist(), column
    assert got["acts_total"].tolist() == w["acts"].cumsum().tolist()
    assert pd.to_datetime(got["week_start"]).tolist() == w["week_start"].tolist()


def test_objects_and_keywords_combine_and_positional_construction_still_works():
    base = Uncertainties(choice_level=-2.1)
    m = TeleModel(
        uncertainties=base, levers={"coverage_rate": 0.9}, external_rate_urban=0.001, **SMALL
    )
    # a full object: its values, not the best set
    assert m.unc == base.replace(external_rate_urban=0.001)
    assert m.levers == Levers(coverage_rate=0.9)
    positional = TeleModel(m.inputs, m.pop, m.unc, m.levers, 3, dt.date(2019, 6, 30)).run()
    assert positional.out_acts_type.tolist() == m.run().out_acts_type.tolist()
    assert TeleModel(rng=3, end="2019-06-30", scale=5000).seed == 3  # Mesa's name for the seed
    with pytest.raises(ParameterError, match="seed 4 and rng 3"):
        TeleModel(seed=4, rng=3, end="2019-06-30", scale=5000)


def test_a_bad_keyword_is_an_error_naming_it():
    with pytest.raises(
        ParameterError, match=r"unknown parameter\(s\) \['coverage_rat'\].*coverage_rate"
    ):
        TeleModel(coverage_rat=1.0, **SMALL)
    with pytest.raises(ParameterError, match="coverage_rate"):
        TeleModel(coverage_rate=2.0, **SMALL)
    with pytest.raises(ParameterError, match="q_imitation"):
        TeleModel(q_imitation=-1.0, **SMALL)
    with pytest.raises(ParameterError, match="scale"):
        TeleModel(scale=0, end="2019-06-30")
    with pytest.raises(ParameterError, match="gravity"):
        mesa.batch_run(
            TeleModel, parameters={"gravity": [1.0]}, max_steps=2, display_progress=False
        )


def test_parameter_names_do_not_clash():
    assert not LEVER_NAMES & UNCERTAINTY_NAMES
    assert not (LEVER_NAMES | UNCERTAINTY_NAMES) & set(RUN_KEYWORDS)


def test_solara_viz_accepts_the_keywords():
    solara_viz = pytest.importorskip("mesa.visualization.solara_viz")
    params = {"coverage_rate": {"type": "SliderFloat", "value": 0.7, "min": 0.7, "max": 1.0}}
    solara_viz._check_model_params(TeleModel.__init__, params | {"seed": 1, "scale": 5000})
