"""Drive telesim from EMA Workbench: uncertainties, levers and outcomes over ``model.simulate``.

    pip install -e ".[decision]"          # ema-workbench 2.5.x
    python docs/examples/ema_study.py     # 8 scenarios x 2 policies, runs to the end of 2021

EMA Workbench calls the model function with one keyword argument per uncertainty and lever it
samples. ``simulate`` overlays what it is given: uncertainties it does not name keep their
calibrated values (the project's best set), levers it does not name keep the baseline. So the
workbench varies only what the study is about, without resetting the rest to planning defaults.
"""

from __future__ import annotations

import datetime as dt
import warnings

from model import Levers, Uncertainties, best_uncertainties, simulate
from model.params import START_DATE

#: Uncertainties to explore: the calibrated value ×/÷ 2 (a log-odds effect: ± 1).
EXPLORED = ("q_imitation", "open_share_urban", "choice_level", "awareness_media")
#: Levers to compare (a date lever travels as whole weeks after 15 Sep 2018).
LEVERS = {"coverage_rate": (0.7, 1.0), "awareness_campaign": (0.0, 2.0)}
RULE_WEEKS = (0, 170)  # the known-patient rule lifted from week 0 (at once) to week 170 (2021)
YEARS = (2019, 2020, 2021)


def telesim_model(seed: int = 0, end: str = "2021-12-31", scale: int | None = None, **params):
    """The model function EMA Workbench calls: keyword parameters in, outcomes out."""
    from experiments.outcomes import annual_totals

    unc_names = {s["name"] for s in Uncertainties.specs()}
    uncertainties = {k: v for k, v in params.items() if k in unc_names}
    levers = {k: v for k, v in params.items() if k in {s["name"] for s in Levers.specs()}}
    if "known_patient_rule_weeks" in params:
        weeks = int(params["known_patient_rule_weeks"])
        levers["known_patient_rule_until"] = START_DATE + dt.timedelta(weeks=weeks)
    weekly = simulate(uncertainties=uncertainties, levers=levers, seed=seed, end=end, scale=scale)
    totals = annual_totals(weekly, end)
    return {f"acts_{y}": totals.get(y, float("nan")) for y in YEARS}


def build_model(end: str = "2021-12-31", scale: int | None = None):
    """The EMA Workbench ``Model``: uncertainties around the best set, levers, outcomes."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # optional parallel back ends not installed
        from ema_workbench import Constant, IntegerParameter, Model, RealParameter, ScalarOutcome

    best = best_uncertainties()[0]
    specs = {s["name"]: s for s in Uncertainties.specs()}
    model = Model("telesim", function=telesim_model)
    uncertainties = []
    for name in EXPLORED:
        value, spec = getattr(best, name), specs[name]
        low, high = (value - 1, value + 1) if spec["low"] < 0 else (value / 2, value * 2)
        low, high = max(spec["low"], low), min(spec["high"], high)
        uncertainties.append(RealParameter(name, low, max(high, low + 1e-9)))
    model.uncertainties = uncertainties
    model.levers = [RealParameter(n, lo, hi) for n, (lo, hi) in LEVERS.items()] + [
        IntegerParameter("known_patient_rule_weeks", *RULE_WEEKS)
    ]
    model.constants = [Constant("end", end), Constant("scale", scale), Constant("seed", 1)]
    model.outcomes = [ScalarOutcome(f"acts_{y}") for y in YEARS]
    return model


def main(scenarios: int = 8, policies: int = 2, end: str = "2021-12-31", scale: int | None = None):
    """Run ``scenarios`` × ``policies`` experiments in this process; return EMA's results."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from ema_workbench import SequentialEvaluator, perform_experiments

    model = build_model(end, scale)
    with SequentialEvaluator(model) as evaluator:
        experiments, outcomes = perform_experiments(
            model, scenarios=scenarios, policies=policies, evaluator=evaluator
        )
    return experiments, outcomes


if __name__ == "__main__":
    experiments, outcomes = main()
    table = experiments[[*EXPLORED, *LEVERS, "known_patient_rule_weeks"]].copy()
    for name, values in outcomes.items():
        table[name] = values
    print(table.round(3).to_string())
