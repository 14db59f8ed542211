"""Launch cohorts: the doctors a video platform starts with on the day it opens.

A platform's launch is not a rise of a hazard only: some platforms opened with doctors already
signed up (Doctolib's ~100 test GPs in Île-de-France on 13 January 2019, Hellocare Connect's ~120
doctors, Livi's ~20 salaried GPs in its Créteil centre on 15 September 2018; sources in
``model/data/launch_cohorts.csv``). They bill from the launch week. Who they were is not
published; the model takes the most open doctors that fit the row (type, region, Doctolib
client), so the choice is a property of the population, not of the run's random draws, and both
engines pick the same doctors. Their patients learn of the offer with a head start
(``Uncertainties.launch_awareness_weeks``: the platform tells the doctor's patients, as if the
doctor had adopted that many weeks before). A cohort whose acts stopped being reimbursed
(``billing_until``) bills nothing afterwards.

``Uncertainties.launch_cohort_scale`` multiplies the sourced counts (they are "about" figures);
0 turns the cohorts off.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from .calendar import first_week_in_force
from .inputs import DOCTOR_TYPES, Inputs
from .params import Levers, Uncertainties

#: Platform index of each platform name (the engines' order: Doctolib, then the others).
PLATFORM_INDEX = {"doctolib": 0, "other": 1}


@dataclass(frozen=True)
class LaunchCohort:
    """One row of ``launch_cohorts.csv`` resolved for a run."""

    name: str
    platform: int  # index in the engines' platform list
    start_week: int  # the week its doctors adopt
    billing_end_week: int | None  # first week their acts are no longer reimbursed
    eligible: np.ndarray  # bool per doctor: type, region and client status fit the row
    size: int  # doctors it starts with (sourced count x launch_cohort_scale, rounded)


def launch_cohorts(
    inputs: Inputs,
    kind: np.ndarray,
    region: np.ndarray,
    client: np.ndarray,
    levers: Levers,
    unc: Uncertainties,
) -> list[LaunchCohort]:
    """The cohorts of this run, in file order (an earlier row's doctors are taken first; a
    cohort takes only doctors who have not adopted by its week).

    Doctolib's cohort starts with Doctolib's launch (``Levers.doctolib_launch``, so a what-if
    that moves the launch moves it too) and not at all without Doctolib; the others on their
    date, from the reimbursement's start at the earliest.
    """
    out: list[LaunchCohort] = []
    if unc.launch_cohort_scale <= 0:
        return out
    codes = inputs.regions.region_code.astype(str).tolist()
    first_paid = max(0, first_week_in_force(inputs.events["reimbursement_start"]))
    for row in inputs.launch_cohorts.itertuples(index=False):
        if row.platform == "doctolib":
            if not levers.doctolib:
                continue
            start = first_week_in_force(levers.doctolib_launch)
        else:
            start = first_week_in_force(row.date)
        size = int(round(row.doctors * unc.launch_cohort_scale))
        if size == 0:
            continue
        eligible = np.ones(kind.size, dtype=bool)
        if row.doctor_type != "any":
            eligible &= kind == DOCTOR_TYPES.index(row.doctor_type)
        if row.region_code != "any":  # a region these inputs lack has no doctors
            r = codes.index(row.region_code) if row.region_code in codes else -1
            eligible &= region == r
        if row.clients_only:
            eligible &= client
        end = (
            None
            if row.billing_until is None
            else first_week_in_force(row.billing_until + dt.timedelta(days=1))
        )
        out.append(
            LaunchCohort(
                name=row.cohort,
                platform=PLATFORM_INDEX[row.platform],
                start_week=max(first_paid, start),
                billing_end_week=end,
                eligible=eligible,
                size=size,
            )
        )
    return out


def members(cohort: LaunchCohort, adopted: np.ndarray, open_u: np.ndarray) -> np.ndarray:
    """The ``size`` most open eligible doctors who have not adopted yet (lowest openness draw
    first, ties by index), in that order."""
    pool = np.flatnonzero(cohort.eligible & ~adopted)
    return pool[np.argsort(open_u[pool], kind="stable")][: cohort.size]
