"""Public cost of a run: the national insurance's share of every act, and what the levers pay.

Unit costs are in ``experiments/data/costs.csv``, each sourced or marked as an assumption (see the
README there). A run's public cost is counted week by week from its weekly table and its levers,
then split by days into calendar years like the acts, over the window from reimbursement start
(15 Sep 2018) to 31 Dec 2021 (or the run's end if earlier), so that a package started in 2018
pays for its first months too:

* **acts**: every act costs the insurance ``coverage × tariff``, ``coverage`` being the week's
  insurance share as the model resolves it (:func:`model.policy.week_policy`: ``coverage_rate``,
  100% from ``full_coverage_from`` and under the COVID regime). The *gross* cost counts it all as
  new spending. The *net* cost subtracts, for the share of acts that replace an in-person
  consultation (``substitution_share``, 1 in the model's own mechanism), the insurance share the
  in-person consultation would have cost: a substituted act at 70% coverage costs nothing extra, at
  100% coverage 7.50 EUR. **The net cost is the one the searches minimise.**
* **equipment aid**: once per adopting doctor, the amount in force (``equipment_subsidy_eur`` from
  ``equipment_subsidy_from``) when the doctor adopts, or when the aid starts for doctors already
  equipped then.
* **platform subsidy**: while ``platforms_free_from`` holds, the public pays the platform's monthly
  price for each Doctolib video doctor (free platforms under COVID were the platforms' own
  decision: no public cost).
* **campaign**: a yearly cost per unit of ``awareness_campaign`` intensity while it runs.
* **pharmacy points**: the extra points' first-year aid when they open, then the yearly and volume
  aids.

Which lever pays through which item is the table :data:`LEVER_COSTS` (every lever is listed, a
test checks it): a new lever is one line there, plus a cost item only if it pays in a new way.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: The unit costs and their sources.
COSTS_CSV = Path(__file__).resolve().parent / "data" / "costs.csv"
KINDS = ("sourced", "derived", "assumption")
REQUIRED = (
    "tariff_eur",
    "in_person_insurance_share",
    "substitution_share",
    "campaign_eur_per_year",
    "pharmacy_first_year_aid_eur",
    "pharmacy_yearly_aid_eur",
    "pharmacy_volume_aid_eur",
    "platform_price_eur_per_month",
)
#: Last day the cost counts (the last target's year); the first is the run's first day.
COST_END = dt.date(2021, 12, 31)
#: Cost items (euros per week), each a column of :func:`weekly_costs`; ``acts`` comes in two.
ITEMS = ("acts", "equipment_aid", "platform_subsidy", "campaign", "pharmacy_points")
COLUMNS = ("acts_gross", "acts_net", *ITEMS[1:])

#: How each lever reaches the public purse: the cost item it pays through (one of :data:`ITEMS`),
#: ``"none"`` (no direct public cost: a rule, or a platform's own decision; rules still change
#: the number of acts, which cost their insurance share) or ``"unpriced"`` (a public cost no
#: source prices: reported, and left out of the searches), and why.
LEVER_COSTS: dict[str, tuple[str, str]] = {
    "known_patient_rule_until": ("none", "a rule: no direct cost"),
    "pathway_rule_until": ("none", "a rule: no direct cost"),
    "coverage_rate": ("acts", "the insurance share of every act"),
    "full_coverage_from": ("acts", "100% insurance share of every act from that date"),
    "equipment_subsidy_eur": ("equipment_aid", "paid once per adopting doctor"),
    "equipment_subsidy_from": ("equipment_aid", "the aid's start"),
    "doctolib": ("none", "a platform's own decision"),
    "doctolib_launch": ("none", "a platform's own decision"),
    "doctolib_everywhere_at_launch": ("none", "a platform's own decision"),
    "doctolib_price_eur": ("none", "a platform's own price"),
    "platforms_free_from": ("platform_subsidy", "the public pays the platform price"),
    "awareness_campaign": ("campaign", "yearly cost per unit of intensity"),
    "awareness_campaign_from": ("campaign", "the campaign's start"),
    "pharmacy_points": ("pharmacy_points", "first-year, yearly and volume aids per point"),
    "pharmacy_points_from": ("pharmacy_points", "the points' opening"),
    "target_deserts": ("none", "a waiver of the rules in under-served areas"),
    "target_deserts_from": ("none", "the waiver's start"),
    "digital_inclusion": ("unpriced", "no sourced cost per person brought online"),
    "full_coverage_until": ("acts", "the 100% insurance share's last day"),
    "platforms_free_until": ("platform_subsidy", "the platform subsidy's last day"),
    "rules_waiver_from": ("none", "a waiver of the rules: no direct cost"),
    "rules_waiver_until": ("none", "the waiver's last day"),
    "rules_waiver_scope": ("none", "the share of needs the waiver covers"),
    "phone_from": ("none", "a reimbursement rule (audio-only acts): no direct cost"),
    "phone_until": ("none", "the phone rule's last day"),
    "avenant9_from": ("none", "a rule (activity cap, waiver in under-served areas)"),
    "covid": ("acts", "the history: 100% coverage from March 2020 (free platforms: their own)"),
    "covid_demand": ("none", "the pandemic's demand, not a public decision"),
    "covid_rules_waiver": ("none", "the history's waiver of the rules: no direct cost"),
    "covid_full_coverage": ("acts", "the history's 100% coverage (18 Mar 2020 - 31 Dec 2021)"),
    "covid_free_platforms": ("none", "free platforms under COVID: the platforms' own decision"),
    "covid_phone": ("none", "the history's phone reimbursement: no direct cost"),
    "covid_avenant9": ("none", "the history's Avenant 9: a rule"),
}


class CostDataError(ValueError):
    """The unit-cost file is missing a row, or a row is malformed."""


@functools.lru_cache(maxsize=4)
def unit_costs(path: str | Path = COSTS_CSV) -> dict[str, float]:
    """The unit costs by name, validated (every required row, a known kind, a finite value >= 0,
    a source or a note for each row)."""
    try:
        table = pd.read_csv(path, dtype={"name": str, "kind": str})
    except (OSError, ValueError) as exc:
        raise CostDataError(f"{path}: cannot read: {exc}") from None
    columns = {"name", "value", "unit", "kind", "source", "note"}
    if not columns <= set(table.columns):
        raise CostDataError(f"{path}: needs the columns {sorted(columns)}")
    out: dict[str, float] = {}
    for row in table.itertuples():
        where = f"{path}: row {row.name!r}"
        value = pd.to_numeric(row.value, errors="coerce")
        if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
            raise CostDataError(f"{where}: value {row.value!r} is not a finite number >= 0")
        if row.kind not in KINDS:
            raise CostDataError(f"{where}: kind {row.kind!r} is not one of {KINDS}")
        if not isinstance(row.note, str) or not row.note.strip():
            raise CostDataError(f"{where}: every row needs a note (what it is, how it was chosen)")
        if row.kind == "sourced" and not (isinstance(row.source, str) and row.source.strip()):
            raise CostDataError(f"{where}: a sourced row needs its source")
        out[str(row.name)] = float(value)
    missing = [n for n in REQUIRED if n not in out]
    if missing:
        raise CostDataError(f"{path}: missing row(s) {missing}")
    return out


def cost_item(lever: str) -> str:
    """The cost item a lever pays through (:data:`LEVER_COSTS`); unknown levers are an error."""
    try:
        return LEVER_COSTS[lever][0]
    except KeyError:
        raise CostDataError(
            f"lever {lever!r} has no row in experiments.costs.LEVER_COSTS: say how it costs"
        ) from None


def unpriced(levers: Mapping[str, Any]) -> list[str]:
    """The levers set away from their baseline whose public cost no source prices."""
    from model import Levers

    base = Levers().to_dict()
    return sorted(
        k for k, v in levers.items() if cost_item(k) == "unpriced" and str(v) != str(base.get(k))
    )


# --------------------------------------------------------------------------------------------
# one run


def schedule(levers: Any, n_weeks: int, uncertainties: Any = None) -> pd.DataFrame:
    """What the public pays for, week by week: the model's own resolution of the levers
    (:func:`model.policy.week_policy`) plus the dates of the levers that only cost."""
    from model import Levers, Uncertainties
    from model.calendar import first_week_in_force, in_force
    from model.inputs import load_inputs
    from model.policy import week_policy

    lev = levers if isinstance(levers, Levers) else Levers.from_dict(dict(levers))
    if uncertainties is None or isinstance(uncertainties, Uncertainties):
        unc = uncertainties or Uncertainties()
    else:
        unc = Uncertainties.from_dict(dict(uncertainties))
    inputs = load_inputs()
    persons = float(inputs.regions["population"].sum())
    rows = []
    for k in range(n_weeks):
        pol = week_policy(k, lev, unc, inputs.events, inputs.constants, persons)
        rows.append(
            {
                "coverage": pol.coverage,
                "subsidy_eur": pol.subsidy_eur,
                "campaign": pol.campaign,
                "platforms_paid": in_force(
                    k, lev.platforms_free_from, getattr(lev, "platforms_free_until", None)
                ),
            }
        )
    table = pd.DataFrame(rows)
    opened = first_week_in_force(lev.pharmacy_points_from)
    table["pharmacy_weeks_open"] = np.arange(n_weeks) - opened if lev.pharmacy_points else -1
    table.attrs["pharmacy_points"] = int(lev.pharmacy_points)
    return table


def weekly_costs(
    weekly: pd.DataFrame,
    levers: Any,
    uncertainties: Any = None,
    unit: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """Euros per week and cost item (:data:`COLUMNS`) of one run's weekly table."""
    from model.calendar import WEEKS_PER_YEAR

    u = dict(unit or unit_costs())
    plan = schedule(levers, len(weekly), uncertainties)
    acts = weekly["acts"].to_numpy(dtype=float)
    coverage = plan["coverage"].to_numpy(dtype=float)
    in_person = u["substitution_share"] * u["in_person_insurance_share"]
    out = pd.DataFrame({"week_start": weekly["week_start"]})
    out["acts_gross"] = acts * u["tariff_eur"] * coverage
    out["acts_net"] = acts * u["tariff_eur"] * (coverage - in_person)

    # equipment aid: once per doctor, at the first week the aid is in force once they adopted
    adopting = weekly["adopting_doctors"].to_numpy(dtype=float)
    subsidy = plan["subsidy_eur"].to_numpy(dtype=float)
    paid = np.maximum.accumulate(np.where(subsidy > 0, adopting, 0.0))
    out["equipment_aid"] = np.diff(paid, prepend=0.0) * subsidy

    # platform subsidy: the monthly price for every Doctolib video doctor while platforms are paid
    share = _doctolib_share(weekly)
    per_week = u["platform_price_eur_per_month"] * 12.0 / WEEKS_PER_YEAR
    out["platform_subsidy"] = plan["platforms_paid"].to_numpy() * adopting * share * per_week

    out["campaign"] = plan["campaign"].to_numpy(dtype=float) * (
        u["campaign_eur_per_year"] / WEEKS_PER_YEAR
    )

    weeks_open = plan["pharmacy_weeks_open"].to_numpy()
    points = plan.attrs["pharmacy_points"]
    yearly = (u["pharmacy_yearly_aid_eur"] + u["pharmacy_volume_aid_eur"]) / WEEKS_PER_YEAR
    out["pharmacy_points"] = points * (
        np.where(weeks_open == 0, u["pharmacy_first_year_aid_eur"], 0.0)
        + np.where(weeks_open >= round(WEEKS_PER_YEAR), yearly, 0.0)
    )
    return out


def _doctolib_share(weekly: pd.DataFrame) -> np.ndarray:
    """Doctolib's share of the acts so far, week by week (0 before the first act)."""
    if "acts_doctolib" not in weekly:
        return np.ones(len(weekly))
    total = np.cumsum(weekly["acts"].to_numpy(dtype=float))
    doctolib = np.cumsum(weekly["acts_doctolib"].to_numpy(dtype=float))
    return np.divide(doctolib, total, out=np.zeros_like(total), where=total > 0)


def run_costs(
    weekly: pd.DataFrame,
    levers: Any,
    uncertainties: Any = None,
    end: str | dt.date | None = None,
    unit: Mapping[str, float] | None = None,
) -> dict[str, float]:
    """One run's public cost in euros from its first day to 31 Dec 2021 (or ``end``):

    ``cost_net`` and ``cost_gross`` (totals), ``cost_<item>`` for each of :data:`COLUMNS`,
    ``cost_net_<year>`` per calendar year, and ``acts_costed`` (the acts of the same window, for
    the cost per extra act).
    """
    from .outcomes import annual_split

    last = COST_END if end is None else min(COST_END, pd.Timestamp(end).date())
    euros = weekly_costs(weekly, levers, uncertainties, unit)
    row: dict[str, float] = {}
    for column in COLUMNS:
        row[f"cost_{column}"] = sum(annual_split(euros["week_start"], euros[column], last).values())
    priced = sum(row[f"cost_{c}"] for c in ITEMS[1:])
    row["cost_net"] = row["cost_acts_net"] + priced
    row["cost_gross"] = row["cost_acts_gross"] + priced
    net = euros[["acts_net", *ITEMS[1:]]].sum(axis=1)
    for year, value in annual_split(euros["week_start"], net, last).items():
        row[f"cost_net_{year}"] = value
    row["acts_costed"] = sum(annual_split(weekly["week_start"], weekly["acts"], last).values())
    return row


def cost_per_extra_act(
    summary: pd.DataFrame, reference: str = "baseline", column: str = "cost_net"
) -> pd.DataFrame:
    """Per scenario, paired with the reference on the same replicates: the extra cost and extra
    acts (mean and 5-95% of the differences) and the cost per extra act (mean extra cost / mean
    extra acts; no value when the scenario adds no acts)."""
    from .outcomes import paired_differences

    diffs = paired_differences(summary, reference, [column, "acts_costed"])
    rows = []
    for label, part in diffs.groupby("label", sort=False):
        if label == reference:
            continue
        cost = part[part["outcome"] == column]
        acts = part[part["outcome"] == "acts_costed"]
        if cost.empty or acts.empty:
            continue
        c, a = cost.iloc[0], acts.iloc[0]
        rows.append(
            {
                "label": label,
                "extra_cost": c["mean"],
                "extra_cost_low": c["low"],
                "extra_cost_high": c["high"],
                "extra_acts": a["mean"],
                "extra_acts_low": a["low"],
                "extra_acts_high": a["high"],
                "eur_per_extra_act": c["mean"] / a["mean"] if a["mean"] > 0 else float("nan"),
                "n": int(a["n"]),
            }
        )
    return pd.DataFrame(rows)


def lever_cost_table() -> pd.DataFrame:
    """:data:`LEVER_COSTS` as a table (lever, item, why), for the report and the docs."""
    return pd.DataFrame(
        [{"lever": k, "item": v[0], "why": v[1]} for k, v in LEVER_COSTS.items()],
        columns=["lever", "item", "why"],
    )


def unit_cost_table(path: str | Path = COSTS_CSV) -> pd.DataFrame:
    """The unit-cost file as it is (name, value, unit, kind, source, note)."""
    unit_costs(path)  # validated
    return pd.read_csv(path)


def scenario_costs(summary: pd.DataFrame, reference: str = "baseline") -> pd.DataFrame:
    """Per scenario: net and gross public cost (mean and 5-95% over runs) and, paired with the
    reference, the extra net cost, extra acts and the net and gross cost per extra act."""
    from .outcomes import interval

    if summary.empty or "cost_net" not in summary:
        return pd.DataFrame()
    rows = []
    for label, part in summary.groupby("label", sort=False):
        row: dict[str, Any] = {"label": label, "runs": len(part)}
        for column in ("cost_net", "cost_gross"):
            iv = interval(part[column])
            row.update(
                {column: iv["mean"], f"{column}_low": iv["low"], f"{column}_high": iv["high"]}
            )
        rows.append(row)
    table = pd.DataFrame(rows)
    net = cost_per_extra_act(summary, reference, "cost_net")
    gross = cost_per_extra_act(summary, reference, "cost_gross")
    if not net.empty:
        table = table.merge(net.drop(columns="n"), on="label", how="left")
        table = table.merge(
            gross[["label", "eur_per_extra_act"]].rename(
                columns={"eur_per_extra_act": "gross_eur_per_extra_act"}
            ),
            on="label",
            how="left",
        )
    return table
