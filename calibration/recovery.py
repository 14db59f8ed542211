"""Parameter recovery: figures simulated from a known parameter set are given to the same inference,
which should put the known values inside its 90% credible intervals.

The synthetic figures are the training figures of the chosen stages (and ``until``), each
replaced by the model's value at the true set, averaged over :data:`SYNTHETIC_SEEDS` runs whose
seeds are *not* the training seeds (so the inference meets the model's noise as it meets real
data's); kinds, dates and bounds stay those of the real figures, so the tolerances are the real
ones. The true set holds the given values for the fitted parameters and the calibration's base
values for the rest (the inference holds those fixed: no misspecification is tested here).
Default truth: the committed calibration (``calibration/calibrated.json``).

Outputs in the run folder: ``recovery.csv`` (per parameter: true value, posterior median and 90%
credible interval, inside or not, width ratio), ``recovery.md``, ``recovery.json``, plus the
stages' checkpoints and ABC histories (``--resume`` continues them).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from infra.atomic import atomic_write_json, atomic_write_text
from model import Uncertainties

from . import identifiability
from .objective import Objective, SearchSpace
from .targets import OBSERVED_CSV, Target, last_day, load_targets, training_targets

#: Seeds of the runs that make the synthetic figures (apart from training, report, predictive).
SYNTHETIC_SEED_BASE = 9000
SYNTHETIC_SEEDS = 2


def synthetic_targets(
    targets: list[Target], values: dict[str, Any], scale: int, n_seeds: int = SYNTHETIC_SEEDS
) -> list[Target]:
    """``targets`` with their values replaced by the model's at ``values`` (see the module
    docstring)."""
    names = [n for n in values if n in {s["name"] for s in Uncertainties.specs()}]
    space = SearchSpace.from_specs(names[:1])
    base = {k: v for k, v in values.items() if k not in space.names}
    objective = Objective(
        space,
        tuple(targets),
        tuple(SYNTHETIC_SEED_BASE + i for i in range(n_seeds)),
        scale,
        base,
    )
    sims = objective.replicates(space.coords(values))
    if isinstance(sims, float):
        raise ValueError("recovery: the true parameter set's runs ran away; choose another truth")
    mean = np.asarray(sims, dtype=float).mean(axis=0)
    out = []
    for t, v in zip(targets, mean, strict=True):
        if not np.isfinite(v):
            raise ValueError(f"recovery: no simulated value for {t.id}")
        v = max(float(v), 1.0) if t.is_count else float(np.clip(v, 0.0, 1.0))
        out.append(dataclasses.replace(t, value=v, source="synthetic", note="recovery"))
    return out


def _truth(settings, truth: dict[str, Any] | None) -> dict[str, Any]:
    from model import best_uncertainties

    from .pipeline import base_values

    given = truth if truth is not None else best_uncertainties()[0].to_dict()
    fitted = {p for s in settings.stages for p in s.params}
    if settings.params:
        fitted &= set(settings.params)
    return {**base_values(settings), **{k: v for k, v in given.items() if k in fitted}}


def recover(
    settings,
    out_dir: Path,
    truth: dict[str, Any] | None = None,
    executor=None,
    resume: bool = False,
    observed: Path = OBSERVED_CSV,
    progress: bool = True,
    log=print,
) -> dict[str, Any]:
    """Simulate figures at ``truth``, infer, and compare (see the module docstring)."""
    from .pipeline import run_stages

    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    values = _truth(settings, truth)
    windows = {w for s in settings.stages for w in s.windows}
    real = training_targets(load_targets(observed), settings.until, windows=tuple(sorted(windows)))
    if not real:
        raise ValueError(f"--until {settings.until}: no training target ends by then")
    log(f"recovery: {len(real)} synthetic figures (to {last_day(real)}) from the true set")
    synthetic = synthetic_targets(real, values, settings.scale)
    runs = run_stages(settings, synthetic, out_dir, executor, resume, progress, log)
    post = runs[-1].abc.posterior
    table = identifiability.table(post)
    rows = []
    for r in table.itertuples():
        true = float(values[r.parameter])
        rows.append(
            {
                "parameter": r.parameter,
                "true": true,
                "posterior_median": r.posterior_median,
                "q05": r.q05,
                "q95": r.q95,
                "inside": bool(r.q05 <= true <= r.q95),
                "width_ratio": r.width_ratio,
                "verdict": r.verdict,
            }
        )
    frame = pd.DataFrame(rows)
    summary = {
        "parameters": len(frame),
        "inside": int(frame.inside.sum()),
        "share_inside": float(frame.inside.mean()),
        "outside": [r.parameter for r in frame.itertuples() if not r.inside],
        "identified_and_inside": int(((frame.verdict == "identified") & frame.inside).sum()),
        "identified": int((frame.verdict == "identified").sum()),
        "stages": [r.stage.name for r in runs],
        "population": int(len(post.weights)),
        "ess": post.ess(),
        "evaluations": int(sum(r.abc.evaluations for r in runs)),
        "figures": len(synthetic),
        "wall_seconds": time.perf_counter() - t0,
        "truth": {r.parameter: float(values[r.parameter]) for r in table.itertuples()},
    }
    from .report import md_table

    text = "\n".join(
        [
            "# Parameter recovery",
            "",
            f"Figures: the {len(synthetic)} training figures of stages "
            f"{', '.join(summary['stages'])} (to {last_day(synthetic)}) simulated at the true set "
            f"({SYNTHETIC_SEEDS} runs on seeds {SYNTHETIC_SEED_BASE}+, not the training seeds). "
            f"Posterior: {summary['population']} particles, ESS {summary['ess']:.0f}, "
            f"{summary['evaluations']} evaluations, {summary['wall_seconds']:.0f} s.",
            "",
            f"True value inside the 90% credible interval: {summary['inside']} of "
            f"{summary['parameters']} parameters ({summary['share_inside']:.0%}); of the "
            f"{summary['identified']} identified (width ratio < {identifiability.IDENTIFIED}), "
            f"{summary['identified_and_inside']} inside.",
            "",
            md_table(frame),
            "",
        ]
    )
    atomic_write_text(out_dir / "recovery.csv", frame.to_csv(index=False))
    atomic_write_text(out_dir / "recovery.md", text)
    atomic_write_json(out_dir / "recovery.json", summary)
    return {"table": frame, "summary": summary, "runs": runs}
