"""Small synthetic inputs: one region with chosen doctor and population counts.

Used by tests (the Bass limit, engine vs reference) and benchmarks, where a whole country is more
than the question needs. Constants and dated events are the project's own (``model/data``) unless
overridden, so a synthetic run follows the same rules and calendar as a national one.
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from .inputs import AGE_COLUMNS, DOCTOR_COLUMNS, Inputs, load_inputs


def synthetic_inputs(
    doctors: tuple[int, int, int, int] = (100, 0, 0, 0),
    persons: int = 10_000,
    age_shares: tuple[float, ...] = (0.24, 0.25, 0.25, 0.16, 0.10),
    region_code: str = "99",
    urban_share: float = 1.0,
    underserved_share: float = 0.06,
    constants: dict[str, float] | None = None,
) -> Inputs:
    """One-region inputs with ``doctors`` = (GPs, specialists, health-centre, hospital doctors)."""
    base = load_inputs()
    pops = [int(round(persons * s)) for s in age_shares]
    pops[-1] = persons - sum(pops[:-1])
    row = {
        "region_code": region_code,
        "region": f"Synthetic {region_code}",
        "overseas": False,
        "population": persons,
        **dict(zip(AGE_COLUMNS, pops, strict=True)),
        "urban_share": urban_share,
        "ftth_share": 0.45,
        "underserved_share": underserved_share,
        "doctor_density_per_100k": 1e5 * sum(doctors) / persons,
        **dict(zip(DOCTOR_COLUMNS, doctors, strict=True)),
    }
    merged = dict(base.constants)
    # national consultation volume, scaled to this population (same consultations per person)
    merged["consultations_per_year_liberal"] *= persons / float(base.regions.population.sum())
    merged.update(constants or {})
    return dataclasses.replace(base, regions=pd.DataFrame([row]), constants=merged)
