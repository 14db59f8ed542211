"""The calibration's stages: which uncertainties are fitted to which windows, in which order.

This table is the one place to change them. A stage fits its ``params`` (new to it) together with
every parameter of the stages before it, against the training figures of its ``windows``:

* stage **A** fits the 2018-2019 behaviour to the first year of reimbursement;
* stage **B** adds the 2020 regime (lockdown demand and supply, phone, the waiver, the 100%
  coverage, Doctolib's free offer, capacity) and fits everything to both windows: its point
  estimate scores both windows' figures; its posterior has the stage-A posterior as the prior of
  the stage-A parameters (a weighted kernel density estimate of its particles:
  :class:`calibration.inference.Prior`) and a distance on the 2020 figures alone, since the
  2018-2019 ones are already in that prior (:func:`calibration.pipeline.distance_targets`).

Assignments that are not obvious:

* ``summer_need_drop`` (needs lost in August) is in A: every August is affected, and August 2019
  is a 2018-2019 figure (``m_aug2019``);
* ``choice_copay`` and ``price_effect`` are in B: the co-payment and Doctolib's price first move
  in March 2020, so the 2018-2019 figures cannot see them;
* ``max_video_share`` (capacity) is in B: it binds only when demand surges.
* ``summer_peak_days`` (how the August dip is spread around 15 August) is in B: August 2019 is a
  month, which the spread leaves nearly unchanged (it keeps August's mean); the week of 17-23
  August 2020 is the one figure that sees it.

The budgets are per stage because an evaluation of stage B (runs to 27 Sep 2020) costs about five
times one of stage A (runs to 15 Sep 2019). ``de_budget`` / ``de_refine`` are the evaluations of
the point estimate (differential evolution and its refinement, :mod:`calibration.search`);
``abc_evaluations`` caps the ABC-SMC evaluations of the stage (generation 0 included): a
generation is not started when the evaluations it is expected to need (population / last
acceptance rate) would exceed what is left, so the cap decides deterministically, never the clock.
Every calibrated uncertainty that is in no stage keeps its base value (the planning default).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from model import Uncertainties

from .targets import WINDOWS


@dataclass(frozen=True)
class Stage:
    """One stage of the calibration (see the module docstring)."""

    name: str
    description: str
    windows: tuple[str, ...]
    params: tuple[str, ...]  # fitted first in this stage
    de_budget: int = 640
    de_refine: int = 480
    abc_evaluations: int = 8000
    #: ABC's final tolerance, held once reached (0: none; "auto": from the point estimate,
    #: calibration.pipeline.auto_tolerance; AbcSettings.tolerance)
    tolerance: float | str = 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["windows"], d["params"] = list(self.windows), list(self.params)
        return d


STAGES: tuple[Stage, ...] = (
    Stage(
        name="A",
        description="2018-2019 behaviour on the first year of reimbursement",
        windows=("2018-2019",),
        params=(
            "launch_awareness_weeks",
            "external_rate_urban",
            "q_imitation",
            "open_share_urban",
            "open_age60",
            "open_urban",
            "open_specialist",
            "open_health_centre",
            "open_hospital",
            "doctolib_pull",
            "doctolib_idf_odds",
            "doctolib_rollout_weeks",
            "choice_level",
            "choice_age",
            "choice_child_gap",
            "choice_young_senior_gap",
            "repeat_odds",
            "repeat_need_ratio",
            "awareness_media",
            "awareness_doctor",
            "summer_need_drop",
        ),
        de_budget=640,
        de_refine=480,
        abc_evaluations=6000,
        tolerance="auto",
    ),
    Stage(
        name="B",
        description="the 2020 regime, on both windows (stage-A parameters: prior = A's posterior)",
        windows=("2018-2019", "2020"),
        params=(
            "lockdown_open",
            "lockdown_pull",
            "lockdown_choice",
            "lockdown_memory",
            "lockdown_memory_weeks",
            "lockdown_threshold",
            "lockdown_uptake_weeks",
            "lockdown_specialist_drop",
            "lockdown_second_line_pressure",
            "lockdown_second_line_lag_weeks",
            "phone_choice",
            "covid_waiver_reach",
            "choice_copay",
            "price_effect",
            "max_video_share",
            "summer_peak_days",
            "lockdown_awareness",
        ),
        de_budget=110,
        de_refine=0,
        abc_evaluations=1600,
        tolerance="auto",
    ),
)


def select(names: list[str] | tuple[str, ...] | None = None) -> tuple[Stage, ...]:
    """The stages to run, in the table's order (``None``: all). A stage can only run after the
    stages before it, so ``["B"]`` alone is refused."""
    if not names:
        return STAGES
    known = [s.name for s in STAGES]
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ValueError(f"stages: unknown {unknown}; allowed: {known}")
    chosen = tuple(s for s in STAGES if s.name in set(names))
    if [s.name for s in chosen] != known[: len(chosen)]:
        allowed = [",".join(known[: i + 1]) for i in range(len(known))]
        raise ValueError(
            f"stages: {list(names)} skips an earlier stage; a stage's prior is the posterior of "
            f"the stages before it (allowed: {allowed})"
        )
    return chosen


def with_budgets(
    stages: tuple[Stage, ...],
    de_budget: int | None = None,
    de_refine: int | None = None,
    abc_evaluations: int | tuple[int, ...] | None = None,
    tolerance: float | str | tuple[float | str, ...] | None = None,
) -> tuple[Stage, ...]:
    """The stages with budgets overridden (``None``: the table's). ``abc_evaluations`` and
    ``tolerance``: one value for every stage, or one per stage in order (stage A's 2018-2019
    runs cost a fifth of stage B's, and the stages' distances score different figures, so their
    budgets and tolerances differ)."""
    changes: dict[str, int] = {}
    if de_budget is not None:
        changes["de_budget"] = de_budget
    if de_refine is not None:
        changes["de_refine"] = de_refine
    evaluations = _per_stage("abc_evaluations", abc_evaluations, stages)
    tolerances = _per_stage("tolerance", tolerance, stages)
    return tuple(
        replace(
            s,
            **changes,
            **({} if n is None else {"abc_evaluations": n}),
            **({} if tol is None else {"tolerance": tol if tol == "auto" else float(tol)}),
        )
        for s, n, tol in zip(stages, evaluations, tolerances, strict=True)
    )


def _per_stage(name: str, value, stages: tuple[Stage, ...]) -> tuple:
    """``value`` spread over the stages: None (the table's), one value, or one per stage."""
    if value is None:
        return (None,) * len(stages)
    if not isinstance(value, tuple | list):  # one number, or "auto"
        return (value,) * len(stages)
    if len(value) == 1:
        return tuple(value) * len(stages)
    if len(value) != len(stages):
        raise ValueError(
            f"{name}: {len(value)} values for {len(stages)} stages "
            f"({', '.join(s.name for s in stages)}); give one, or one per stage"
        )
    return tuple(value)


def check(stages: tuple[Stage, ...] = STAGES) -> None:
    """Refuse a table with unknown windows or parameters, or a parameter in two stages."""
    fields = {s["name"] for s in Uncertainties.specs()}
    seen: dict[str, str] = {}
    for st in stages:
        bad = sorted(set(st.windows) - set(WINDOWS))
        if bad:
            raise ValueError(f"stage {st.name}: unknown windows {bad}; allowed: {list(WINDOWS)}")
        unknown = sorted(set(st.params) - fields)
        if unknown:
            raise ValueError(f"stage {st.name}: unknown uncertainties {unknown}")
        for p in st.params:
            if p in seen:
                raise ValueError(f"stage {st.name}: {p} is already fitted in stage {seen[p]}")
            seen[p] = st.name


def unstaged(stages: tuple[Stage, ...] = STAGES) -> list[str]:
    """Uncertainties marked ``calibrate`` that no stage fits (they keep their base value)."""
    staged = {p for s in stages for p in s.params}
    return [s["name"] for s in Uncertainties.specs() if s["calibrate"] and s["name"] not in staged]


check()


def posterior_params(record: dict) -> list[str]:
    """The parameters a calibration record's posterior rows infer, in file order: those of its
    stage and of every stage before it (stage B's rows carry A's parameters too), as the record
    lists them."""
    upto = [s.name for s in STAGES].index(record["posterior"]["stage"]) + 1
    return [n for s in STAGES[:upto] for n in record["stages"][s.name]["params"]]
