"""Scenario files: ``experiments/scenarios/*.toml``, each a set of levers and optional overrides.

A scenario file holds a ``description`` (required), an optional ``group`` (``baseline``,
``single``, ``combination``, ``history``, ``decomposition``, ``stress`` or ``custom``), a
``[levers]`` table (missing levers keep their baseline value) and an optional
``[uncertainties]`` table of overrides applied on top of every parameter set the experiment
draws. Anything else is refused, as are wrong types and out-of-range values: the error names the
file and the field, so a typo never runs silently as the baseline. Optional dates (``*_until``,
``*_from`` that may be unset) accept ``"none"``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from model.params import Levers, ParameterError, Uncertainties, read_parameter_file

#: Where the project's scenario files live.
SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
#: Top-level keys a scenario file may hold.
ALLOWED_KEYS = {"description", "group", "levers", "uncertainties"}
#: Groups, in the order the standard set and the report list them.
GROUPS = ("baseline", "single", "combination", "history", "decomposition", "stress", "custom")
#: Former scenario names still accepted (the history scenario was called ``covid_2020``).
ALIASES = {"covid_2020": "as_it_happened"}


class ScenarioError(ValueError):
    """A scenario file is missing, unreadable or malformed; the message names file and field."""


@dataclass(frozen=True)
class Scenario:
    """One scenario: a name, a description, the levers and uncertainty overrides."""

    name: str
    description: str
    levers: Levers = field(default_factory=Levers)
    uncertainty_overrides: dict[str, Any] = field(default_factory=dict)
    group: str = "custom"
    path: str | None = None

    def levers_dict(self) -> dict[str, Any]:
        """Levers as plain JSON-ready values (what travels to a worker)."""
        return self.levers.to_dict()

    def changed_levers(self) -> dict[str, Any]:
        """Only the levers that differ from the baseline (for tables)."""
        base = Levers().to_dict()
        return {k: v for k, v in self.levers.to_dict().items() if base[k] != v}


def scenario_path(name_or_path: str | Path) -> Path:
    """The file a scenario name or path refers to (a bare name looks in ``SCENARIO_DIR``)."""
    text = str(name_or_path)
    if text.endswith(".toml") or "/" in text or "\\" in text:
        path = Path(text)
        if not path.is_file():
            raise ScenarioError(f"scenario file {text}: no such file")
        return path
    path = SCENARIO_DIR / f"{ALIASES.get(text, text)}.toml"
    if not path.is_file():
        raise ScenarioError(
            f"unknown scenario {text!r}; available: {', '.join(available_scenarios())} "
            "(or give the path of a .toml file)"
        )
    return path


def available_scenarios() -> list[str]:
    """Names of the scenario files shipped in ``SCENARIO_DIR``, in the standard order."""
    return [s.name for s in standard_scenarios()]


def standard_scenarios() -> list[Scenario]:
    """Every scenario in ``SCENARIO_DIR``: baseline first, then by group and name."""
    loaded = [load_scenario(p) for p in sorted(SCENARIO_DIR.glob("*.toml"))]
    return sorted(loaded, key=lambda s: (GROUPS.index(s.group), s.name != "baseline", s.name))


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load and validate one scenario by name (``baseline``) or path (``my.toml``)."""
    path = scenario_path(name_or_path)
    where = str(path)
    try:
        raw = read_parameter_file(path, tomllib.loads, "TOML")
    except ParameterError as exc:
        raise ScenarioError(str(exc)) from None
    return parse_scenario(raw, name=path.stem, where=where)


def parse_scenario(raw: dict[str, Any], *, name: str, where: str) -> Scenario:
    """Validate a parsed scenario table (the body of :func:`load_scenario`)."""
    unknown = sorted(set(raw) - ALLOWED_KEYS)
    if unknown:
        raise ScenarioError(
            f"{where}: unknown key(s) {unknown}; a scenario file may hold {sorted(ALLOWED_KEYS)}"
        )
    description = raw.get("description")
    if not isinstance(description, str) or not description.strip():
        raise ScenarioError(f"{where}: description: a non-empty string is required")
    group = raw.get("group", "custom")
    if group not in GROUPS:
        raise ScenarioError(f"{where}: group: {group!r} is not one of {list(GROUPS)}")
    lever_table = raw.get("levers", {})
    if not isinstance(lever_table, dict):
        raise ScenarioError(f"{where}: levers: expected a table ([levers]), got {lever_table!r}")
    unc_table = raw.get("uncertainties", {})
    if not isinstance(unc_table, dict):
        raise ScenarioError(
            f"{where}: uncertainties: expected a table ([uncertainties]), got {unc_table!r}"
        )
    levers = _levers(lever_table, where)
    overrides = _overrides(unc_table, where)
    return Scenario(
        name=name,
        description=" ".join(description.split()),
        levers=levers,
        uncertainty_overrides=overrides,
        group=group,
        path=where,
    )


def _optional_date_fields(cls) -> set[str]:
    return {f["name"] for f in cls.specs() if f["type"].replace(" ", "") == "dt.date|None"}


def _levers(table: dict[str, Any], where: str) -> Levers:
    values = dict(table)
    for key in _optional_date_fields(Levers) & set(values):
        if isinstance(values[key], str) and values[key].strip().lower() == "none":
            values[key] = None
    for key, value in values.items():  # TOML datetimes are not dates
        if isinstance(value, dt.datetime):
            raise ScenarioError(f"{where}: levers.{key}: {value!r} must be a date (YYYY-MM-DD)")
    try:
        return Levers.from_dict(values, where=f"{where}: [levers]")
    except ParameterError as exc:
        raise ScenarioError(_prefix(where, exc)) from None
    except TypeError as exc:  # pragma: no cover - from_dict refuses unknown names first
        raise ScenarioError(f"{where}: levers: {exc}") from None


def _overrides(table: dict[str, Any], where: str) -> dict[str, Any]:
    known = {f.name for f in dataclasses.fields(Uncertainties)}
    unknown = sorted(set(table) - known)
    if unknown:
        raise ScenarioError(
            f"{where}: [uncertainties]: unknown uncertainties field(s) {unknown}; "
            f"allowed: {sorted(known)}"
        )
    try:
        checked = Uncertainties().replace(**table)
    except ParameterError as exc:
        raise ScenarioError(_prefix(where, exc)) from None
    return {k: getattr(checked, k) for k in table}


def _prefix(where: str, exc: Exception) -> str:
    text = str(exc)
    return text if text.startswith(where) else f"{where}: {text}"
