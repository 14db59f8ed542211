"""Carry stage B's record over a new stage-A calibration (docs/calibration.md, "The launch
cohorts adopted").

    python docs/examples/carry_stage_b.py OLD_RECORD.json

A ``telesim calibrate --stages A`` run writes a record with stage A's block only, its base
holding stage B's values (``--base``). This copies the stage-B block of OLD_RECORD (the record
before the run) into ``calibration/calibrated.json``, says in its note that it was fitted given
the stage-A set before, and checks that the record's uncertainties and every row of
``calibration/posterior.csv`` hold the same stage-B values (it refuses otherwise). Written
atomically. Then ``refresh_record.py`` scores both windows with the new best set.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from calibration.pipeline import CALIBRATED_JSON, POSTERIOR_CSV
from infra.atomic import atomic_write_json


def main(old_path: Path) -> dict:
    old = json.loads(old_path.read_text())
    new = json.loads(CALIBRATED_JSON.read_text())
    block = dict(old["stages"]["B"])
    names = block["params"]
    posterior = pd.read_csv(POSTERIOR_CSV)
    for n in names:
        value = old["uncertainties"][n]
        if not np.isclose(new["uncertainties"][n], value, rtol=0, atol=1e-12):
            sys.exit(f"{n}: the record holds {new['uncertainties'][n]}, stage B's point {value}")
        if not np.allclose(posterior[n].to_numpy(), value, rtol=0, atol=1e-12):
            sys.exit(f"{n}: calibration/posterior.csv does not hold stage B's point {value}")
    block["note"] = (
        f"carried over from the record of {old['date']} (fitted given the stage-A set before the "
        f"launch cohorts; not refit): {block.get('note', '')}"
    )
    new["stages"] = {**new["stages"], "B": block}
    atomic_write_json(CALIBRATED_JSON, new)
    return new


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]))
