"""Carry a calibration record and its posterior into the choice's level-at-the-mean coordinates
(6 Dec 2026, docs/calibration.md "The choice's age terms, reparameterised").

    python docs/examples/choice_level_coordinates.py RECORD.json POSTERIOR.csv

``choice_logit`` (the 40-59 band's log-odds) and ``choice_young_gap`` (20-39 above 40-59) became
``choice_level`` (the mean over the bands, weighted by ``model.rules.CHOICE_AGE_WEIGHTS``) and
``choice_young_senior_gap`` (20-39 above 60-74); ``choice_age`` and ``choice_child_gap`` keep
their meaning. The change is linear with a constant Jacobian (1), so a uniform prior stays uniform
and the posterior's density keeps its shape: the transformed particles are a sample of the
posterior in the new coordinates wherever neither box truncates it. The script checks that: it
refuses a posterior within 5% of a range of an old bound of ``choice_logit`` or
``choice_young_gap``, or outside the new bounds.

Both files are rewritten in place (each whole, or not at all): every value set holding the four
age terms is transformed; lists of names and the search space renamed (the new bounds are the
model's); the identifiability verdicts and strong pairs recomputed from the transformed
posterior; the posterior's sha256 and note updated. Nothing else moves: the fit and predictive
figures are those of the same model runs.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from calibration import identifiability, stages
from calibration.inference import Posterior
from calibration.objective import SearchSpace
from infra.atomic import atomic_write_json, atomic_write_text
from model import Uncertainties
from model.rules import CHOICE_AGE_WEIGHTS

USAGE = "usage: python docs/examples/choice_level_coordinates.py RECORD.json POSTERIOR.csv"
RENAMED = {"choice_logit": "choice_level", "choice_young_gap": "choice_young_senior_gap"}
OLD_BOUNDS = {"choice_logit": (-10.0, 4.0), "choice_young_gap": (-3.0, 6.0)}
MARGIN = 0.05
NOTE = (
    "; transformed exactly to choice_level (the choice's mean log-odds over the age bands) and "
    "choice_young_senior_gap (20-39 above 60-74) after the run, 6 Dec 2026"
)


def to_level(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` (a dict in file order) with the two old terms replaced, in place of them."""
    w0, w1, _, w3, w4 = CHOICE_AGE_WEIGHTS
    level, age = values["choice_logit"], values["choice_age"]
    child, young = values["choice_child_gap"], values["choice_young_gap"]
    mean = level + (2 * w0 + w3 + 2 * w4) * age + w0 * child + w1 * young
    new = {"choice_level": mean, "choice_young_senior_gap": young - age}
    return {RENAMED.get(k, k): new.get(RENAMED.get(k, k), v) for k, v in values.items()}


def _carry(obj: Any) -> Any:
    """The record with every value set transformed and every name renamed."""
    if isinstance(obj, dict):
        if isinstance(obj.get("choice_logit"), int | float):
            obj = to_level(obj)
        return {RENAMED.get(k, k): _carry(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_carry(v) for v in obj]
    if isinstance(obj, str):
        for old, new in RENAMED.items():
            obj = obj.replace(old, new)
        return obj
    return obj


def _check_inside(frame: pd.DataFrame, new: pd.DataFrame, space: SearchSpace) -> None:
    """Refuse when either box truncates the posterior along the changed directions."""
    boxes = [(frame, name, box) for name, box in OLD_BOUNDS.items()]
    boxes += [(new, n, b) for n, b in zip(space.names, space.bounds, strict=True)]
    for rows, name, (lo, hi) in boxes:
        m = MARGIN * (hi - lo)
        if rows[name].min() < lo + m or rows[name].max() > hi - m:
            raise SystemExit(f"{name}: the posterior reaches within {MARGIN:.0%} of [{lo}, {hi}]")


def carry(record_path: Path, posterior_path: Path) -> dict:
    record = json.loads(record_path.read_text())
    frame = pd.read_csv(posterior_path)
    if "choice_logit" not in frame:
        raise SystemExit(f"{posterior_path}: no choice_logit column (already transformed?)")
    rows = [to_level(r) for r in frame.to_dict("records")]
    new = pd.DataFrame(rows, columns=[RENAMED.get(c, c) for c in frame.columns])
    space = SearchSpace.from_specs(list(RENAMED.values()))
    _check_inside(frame, new, space)
    record = _carry(record)
    Uncertainties.from_dict(record["uncertainties"])  # the record is valid in the new coordinates
    for name, lo, hi in zip(space.names, space.low, space.high, strict=True):
        record["space"][name] = {"low": lo, "high": hi, "scale": "linear"}
    names = stages.posterior_params(record)
    text = new.to_csv(index=False)
    post = Posterior.from_frame(new, names, record["uncertainties"])
    record["identifiability"] = identifiability.record_section(
        identifiability.table(post), identifiability.correlations(post)
    )
    record["posterior"]["sha256"] = hashlib.sha256(text.encode()).hexdigest()
    record["posterior"]["note"] = record["posterior"].get("note", "") + NOTE
    atomic_write_text(posterior_path, text)
    atomic_write_json(record_path, record)
    return record


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(USAGE)
    out = carry(Path(sys.argv[1]), Path(sys.argv[2]))
    print(json.dumps(out["identifiability"], indent=1))
