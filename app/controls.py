"""The page's left panel: scenario, seed, the run button and one control per lever.

One control per lever of :meth:`model.Levers.specs`, with the lever's own name (shown under the
control) and range: switches, sliders and dates; a switch with a date lifts a rule after the last
day it holds, or turns a measure on from its first day. Every control writes to the session's
settings (:mod:`app.state`); nothing runs until **Run to end-2021** is pressed.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import solara
import solara.lab

from .state import (
    back_to_baseline,
    choose_scenario,
    press_run,
    run_to_end,
    set_lever,
    set_seed,
    settings,
    settings_error,
)
from .whatif import BASELINE, lever_specs, scenario_names

# Plain-language labels of the levers (the lever's own name is shown under each control).
LABELS: dict[str, str] = {
    "known_patient_rule_until": "Lift the 12-month known-patient rule",
    "pathway_rule_until": "Lift the coordinated-care pathway rule",
    "coverage_rate": "Share of the fee paid by the national insurance",
    "full_coverage_from": "Cover teleconsultations 100%",
    "equipment_subsidy_eur": "Equipment aid per doctor (EUR)",
    "equipment_subsidy_from": "Equipment aid starts on",
    "doctolib": "Doctolib offers video",
    "doctolib_launch": "Doctolib video launches on",
    "doctolib_everywhere_at_launch": "Doctolib video for all its clients at launch",
    "doctolib_price_eur": "Doctolib video price (EUR per month)",
    "platforms_free_from": "Make video platforms free for doctors",
    "awareness_campaign": "National awareness campaign (extra awareness per year)",
    "awareness_campaign_from": "Campaign starts on",
    "pharmacy_points": "Extra pharmacies with assisted teleconsultation",
    "pharmacy_points_from": "Extra pharmacy points open on",
    "target_deserts": "Target under-served areas (0 = no, 1 = fully)",
    "target_deserts_from": "Targeting starts on",
    "digital_inclusion": "Share of digitally excluded people brought online",
    "full_coverage_until": "100% cover ends after",
    "platforms_free_until": "Free platforms end after",
    "rules_waiver_from": "Waive the known-patient and pathway rules",
    "rules_waiver_until": "Waiver ends after",
    "rules_waiver_scope": "Share of needs the waiver covers",
    "phone_from": "Reimburse phone (audio-only) teleconsultations",
    "phone_until": "Phone teleconsultations end after",
    "avenant9_from": "Avenant 9 (20% cap, territoriality)",
    "covid": "COVID-19 as it happened (lockdowns and the 2020-2021 rules)",
    "covid_demand": "with covid: lockdown demand (stringency index)",
    "covid_rules_waiver": "with covid: rules waived for Covid patients",
    "covid_full_coverage": "with covid: 100% cover",
    "covid_free_platforms": "with covid: free platforms",
    "covid_phone": "with covid: phone teleconsultations",
    "covid_avenant9": "with covid: Avenant 9 (Sept 2021)",
}
#: What the date of an optional-date lever means once its switch is on.
OPTIONAL_DATE_LABELS: dict[str, str] = {
    "known_patient_rule_until": "last day the rule holds",
    "pathway_rule_until": "last day the rule holds",
    "full_coverage_from": "from",
    "platforms_free_from": "from",
    "full_coverage_until": "last day",
    "platforms_free_until": "last day",
    "rules_waiver_from": "from",
    "rules_waiver_until": "last day",
    "phone_from": "from",
    "phone_until": "last day",
    "avenant9_from": "from",
}
GROUPS: dict[str, tuple[str, ...]] = {
    "Access rules": (
        "known_patient_rule_until",
        "pathway_rule_until",
        "rules_waiver_from",
        "rules_waiver_until",
        "rules_waiver_scope",
        "target_deserts",
        "target_deserts_from",
        "avenant9_from",
    ),
    "Money": (
        "coverage_rate",
        "full_coverage_from",
        "full_coverage_until",
        "equipment_subsidy_eur",
        "equipment_subsidy_from",
    ),
    "Platforms": (
        "doctolib",
        "doctolib_launch",
        "doctolib_everywhere_at_launch",
        "doctolib_price_eur",
        "platforms_free_from",
        "platforms_free_until",
    ),
    "Phone": ("phone_from", "phone_until"),
    "Awareness and access": (
        "awareness_campaign",
        "awareness_campaign_from",
        "pharmacy_points",
        "pharmacy_points_from",
        "digital_inclusion",
    ),
    "COVID-19": (
        "covid",
        "covid_demand",
        "covid_rules_waiver",
        "covid_full_coverage",
        "covid_free_platforms",
        "covid_phone",
        "covid_avenant9",
    ),
}


def slider_step(spec: dict[str, Any]) -> float:
    """A step giving about 1,000 positions that still lands on the default."""
    lo, hi, default = spec["low"], spec["high"], spec["default"]
    step = 10.0 ** math.floor(math.log10((hi - lo) / 1000.0))
    if spec["type"] == "int":
        step = max(1, int(step))
    for _ in range(6):
        if abs(round((default - lo) / step) * step - (default - lo)) < 1e-9:
            break
        step = step / 10 if spec["type"] != "int" else max(1, step // 10)
    return step


def _decimals(step: float) -> int:
    return max(0, -math.floor(math.log10(step))) if step < 1 else 0


@solara.component
def LeverControl(spec: dict[str, Any], value: Any):
    """One lever: a switch, a slider or a date (an optional date is a switch plus a date)."""
    name, kind = spec["name"], spec["type"]
    label = LABELS.get(name, spec.get("doc", name))
    low, high = spec.get("low"), spec.get("high")
    with solara.Column(
        gap="0px", classes=["telesim-lever", f"lever-{name}"], style={"margin-bottom": "10px"}
    ):
        if kind == "bool":
            solara.Switch(
                label=label,
                value=bool(value),
                on_value=lambda v: set_lever(name, bool(v)),
                classes=[f"lever-input-{name}"],
            )
        elif kind in ("float", "int"):
            # the label on its own line: beside the slider it leaves the slider no width
            solara.Text(label, style={"font-size": "14px", "margin-top": "6px"})
            step = slider_step(spec)
            if kind == "int":
                solara.SliderInt(
                    "",
                    value=int(value),
                    min=int(low),
                    max=int(high),
                    step=int(step),
                    on_value=lambda v: set_lever(name, int(v)),
                )
            else:
                digits = _decimals(step)
                solara.SliderFloat(
                    "",
                    value=float(value),
                    min=float(low),
                    max=float(high),
                    step=step,
                    on_value=lambda v: set_lever(name, round(float(v), digits)),
                )
        elif kind == "dt.date|None":
            on = value is not None
            solara.Switch(
                label=label,
                value=on,
                on_value=lambda v: set_lever(name, low if v else None),
                classes=[f"lever-input-{name}"],
            )
            # always in the tree (hidden while the switch is off): a fixed structure keeps the
            # browser's widgets in step with the server when the switch flips
            with solara.Div(style={} if on else {"display": "none"}):
                _date_input(name, OPTIONAL_DATE_LABELS.get(name, "date"), value or low, low, high)
        else:  # dt.date
            _date_input(name, label, value, low, high)
        solara.Text(
            f"{name} = {_show(value)}",
            style={"font-size": "11px", "color": "#777", "font-family": "monospace"},
        )


def _date_input(name: str, label: str, value: dt.date, low: dt.date, high: dt.date) -> None:
    def on_date(v):
        if v is not None:
            set_lever(name, v)

    solara.lab.InputDate(
        value,
        on_value=on_date,
        label=label,
        date_format="%Y-%m-%d",
        min_date=low.isoformat() if low else None,
        max_date=high.isoformat() if high else None,
        dense=True,
    )


def _show(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:g}" if isinstance(value, float) else str(value)


@solara.component
def SettingsPanel():
    """Scenario, seed, the run button and one control per lever (grouped)."""
    s = settings.value
    specs = {spec["name"]: spec for spec in lever_specs()}
    names = scenario_names()
    with solara.Card("What if?", margin=0, classes=["telesim-settings"]):
        solara.Select(
            "Start from scenario",
            values=names,
            value=s.scenario if s.scenario in names else BASELINE,
            on_value=choose_scenario,
            classes=["scenario-select"],
        )
        solara.Text(s.description, style={"font-size": "12px", "color": "#555"})
        if s.uncertainty_overrides:
            solara.Text(
                "scenario changes behaviour: "
                + ", ".join(f"{k} = {v}" for k, v in s.uncertainty_overrides.items()),
                style={"font-size": "12px", "color": "#555"},
            )
        solara.InputInt("Random seed", value=s.seed, on_value=set_seed, classes=["seed-input"])
        with solara.Row():
            solara.Button(
                "Run to end-2021",
                on_click=press_run,
                color="primary",
                disabled=run_to_end.pending,
                classes=["telesim-run"],
            )
            solara.Button("Baseline settings", on_click=back_to_baseline, outlined=True)
        # a static note, not an animated progress bar: the browser usually shares the machine
        # and an animation redrawn at 60 frames a second takes CPU from the run
        solara.Text(
            "Running to 31 Dec 2021…" if run_to_end.pending else "",
            classes=["telesim-running"],
            style={"font-size": "13px", "color": "#1976d2", "min-height": "18px"},
        )
        failed = run_to_end.error and not run_to_end.pending
        solara.Text(
            settings_error.value or (f"run failed: {run_to_end.exception}" if failed else ""),
            classes=["telesim-settings-error"],
            style={"color": "#b00020", "font-size": "13px"},
        )
        grouped = [n for names_ in GROUPS.values() for n in names_]
        groups = dict(GROUPS)
        others = tuple(n for n in specs if n not in grouped)
        if others:
            groups["Other levers"] = others
        for title, members in groups.items():
            present = [n for n in members if n in specs]
            if not present:
                continue
            solara.HTML(tag="div", unsafe_innerHTML=f"<b>{title}</b>", style="margin-top: 10px")
            for n in present:
                LeverControl(specs[n], s.levers.get(n, specs[n]["default"])).key(f"lever-{n}")
