"""Write a stage-B point estimate into the committed calibration (between ``refit_stage_b.py`` and
``refresh_record.py``, docs/calibration.md "The committed calibration").

    python docs/examples/write_stage_b.py OUT_DIR

Reads OUT_DIR/best.json and OUT_DIR/de-B.json (``refit_stage_b.py``'s), and writes the stage-B
values into ``calibration/calibrated.json`` (its uncertainties and its stage-B block: parameters,
point loss, search budget, evaluations and wall time) and into every row of
``calibration/posterior.csv`` (stage A's posterior: stage B has no posterior of its own yet, so its
parameters sit at their point estimate in every row; a new parameter gets a new column). If OUT_DIR
also holds ``refine_stage_b.py``'s ``refined.json`` and its values scored lower than the start on
its seeds, those values (all of stage B's or a subset) are written instead, with a ``refined`` block
in stage B's record. An OUT_DIR with ``refined.json`` but no ``de-B.json`` is a refinement of the
record's own stage-B point (``refine_stage_b.py`` on a new folder): its values are written if they
lowered the loss, the stage-B search block is kept, and the refinement is added to the list of
the point's refinements. Both files are written whole or not at all. Refused once the
committed posterior is stage B's own (``stage_b_posterior.py``): a new point needs a new
posterior. Then run ``refresh_record.py`` for the fit sections.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import sys
from pathlib import Path

import pandas as pd

from calibration import stages
from calibration.pipeline import CALIBRATED_JSON as RECORD
from calibration.pipeline import POSTERIOR_CSV as POSTERIOR
from infra.atomic import atomic_write_json, atomic_write_text


def main(out: Path) -> dict:
    if not (out / "de-B.json").exists():
        return _write_refinement(out)
    best = json.loads((out / "best.json").read_text())
    search = json.loads((out / "de-B.json").read_text())
    fp = search["fingerprint"]
    stage = next(s for s in stages.STAGES if s.name == "B")
    params = list(stage.params)
    values = {k: float(best["params"][k]) for k in params}
    record = json.loads(RECORD.read_text())
    block = record["stages"].setdefault(  # a record written by `--stages A` has no B block
        "B",
        {
            "abc": None,
            "description": stage.description,
            "fitted_targets": len(fp["fitted"]),
            "windows": list(stage.windows),
        },
    )
    refine = search.get("refine") or {}
    start_loss = float(search["evaluated_f"][0])
    block.update(
        params=params,
        point_loss=float(best["loss"]),
        search={
            "best_loss": float(best["loss"]),
            "evaluations": len(search["evaluated_f"]),
            "budget": [fp["search"]["budget"], fp["search"]["refine"]],
            "init_spread": fp["search"]["init_spread"],
            "scale": fp["settings"]["scale"],
            "replicates": fp["settings"]["replicates"],
            "start_loss": start_loss,
            "wall_seconds": round(float(search["elapsed_seconds"])),
            "refine_steps": refine.get("used", 0),
        },
        note=(
            f"point estimate only: differential evolution of the {len(params)} regime parameters, "
            f"{fp['search']['budget']} + {fp['search']['refine']} evaluations at 1 agent per "
            f"{fp['settings']['scale']} persons, {fp['settings']['replicates']} seed, on both "
            f"windows' figures, the stage-A parameters at the stage-A best set "
            f"({dt.date.today():%d %b %Y}; loss {start_loss:.2f} at the start -> "
            f"{best['loss']:.2f}); its parameters are held at these values in every row of the "
            "stage-A posterior; its ABC posterior is still to run (see docs/calibration.md)"
        ),
    )
    refined = _refined(out, params)
    if refined is not None:
        values = {**values, **refined["values"]}
        block["refined"] = [refined]
        block["note"] += (
            f"; then refined by Nelder-Mead on seeds {refined['seeds']} "
            f"(loss {refined['loss_before']:.3f} -> {refined['loss_after']:.3f} on those seeds)"
        )
    else:
        block.pop("refined", None)
    record["uncertainties"].update(values)
    clause = (
        "; stage B: a point estimate by differential evolution given the stage-A best set (its "
        f"{len(params)} parameters fixed in the posterior)"
    )
    method = record["method"]
    record["method"] = (
        re.sub(r"its \d+ parameters fixed", f"its {len(params)} parameters fixed", method)
        if "stage B:" in method
        else method + clause
    )
    return _save(record, values)


def _save(record: dict, values: dict[str, float]) -> dict:
    """Write the stage-B ``values`` into every posterior row, and the record (each file whole)."""
    post = record["posterior"]
    if post["stage"] != "A":  # stage B's own posterior: one value in every row would erase it
        sys.exit(
            f"{POSTERIOR} is stage {post['stage']}'s posterior, not stage A's with stage B at its "
            "point: a new stage-B point needs a new posterior (docs/examples/stage_b_posterior.py "
            "from the point), not the point written into every row"
        )
    if "note" not in post:
        post["note"] = (
            f"stage {post['stage']} posterior; the stage-B parameters at their point estimate "
            "(refit given stage A's best set) in every row"
        )
    # what the posterior's stages leave at their point (as calibrate writes it)
    record["unstaged"] = stages.unstaged(stages.select([post["stage"]]))
    posterior = pd.read_csv(POSTERIOR)
    for k, v in values.items():
        posterior[k] = v
    tail = [c for c in ("weight", "loss") if c in posterior.columns]
    posterior = posterior[[c for c in posterior.columns if c not in tail] + tail]
    text = posterior.to_csv(index=False)
    record["posterior"]["sha256"] = hashlib.sha256(text.encode()).hexdigest()
    atomic_write_text(POSTERIOR, text)
    atomic_write_json(RECORD, record)
    return record


def _write_refinement(out: Path) -> dict:
    """A refinement of the record's own stage-B point: its values, appended to the point's
    refinements; the differential evolution's block stays as it is."""
    params = list(next(s for s in stages.STAGES if s.name == "B").params)
    refined = _refined(out, params)
    if refined is None:
        sys.exit(f"{out}: neither de-B.json nor a refined.json that lowered the loss")
    record = json.loads(RECORD.read_text())
    block = record["stages"]["B"]
    earlier = block.get("refined") or []
    block["refined"] = (earlier if isinstance(earlier, list) else [earlier]) + [refined]
    block["note"] += (
        f"; then refined by Nelder-Mead on seeds {refined['seeds']} over {len(refined['params'])} "
        f"of its parameters (loss {refined['loss_before']:.3f} -> {refined['loss_after']:.3f} "
        "on those seeds)"
    )
    record["uncertainties"].update(refined["values"])
    return _save(record, refined["values"])


def _refined(out: Path, params: list[str]) -> dict | None:
    """``refine_stage_b.py``'s result in ``out``, if there is one and it lowered the loss."""
    path = out / "refined.json"
    if not path.exists():
        return None
    refined = json.loads(path.read_text())
    if not set(refined["params"]) <= set(params) or refined["loss_after"] >= refined["loss_before"]:
        return None
    return {**refined, "values": {k: float(v) for k, v in refined["values"].items()}}


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]))
