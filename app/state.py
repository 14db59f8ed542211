"""The page's state for one browser session, and what the buttons and controls do to it.

Solara reactive variables are per browser session: ``settings`` (what the controls show),
``current`` (the :class:`WhatIfModel` SolaraViz holds and the charts draw) and
``settings_error``. **Run to end-2021** is :func:`run_to_end`, a task that builds and runs the
whole horizon in a worker thread, draws the charts there too, and then replaces ``current``,
which redraws the page.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import solara
import solara.lab

from model import ParameterError

from .charts import chart_images
from .whatif import Settings, WhatIfModel, baseline_view, load_scenario_settings

settings = solara.reactive(Settings())
current = solara.reactive(WhatIfModel(Settings(), run=True))
settings_error = solara.reactive("")


@solara.lab.task(prefer_threaded=True)
def run_to_end(s: Settings) -> float:
    """Build and run the whole horizon for ``s`` and show it; returns the seconds it took."""
    t0, c0 = time.perf_counter(), time.thread_time()
    m = WhatIfModel(s, run=True)
    baseline_view(s)  # a new seed needs its own baseline run (counted with the model)
    t1, c1 = time.perf_counter(), time.thread_time()
    chart_images(m)  # draw in this worker thread, so the page only swaps images
    t2, c2 = time.perf_counter(), time.thread_time()
    # wall time, and the CPU time of this thread: on a busy machine the two part ways
    m.timing_note = (
        f"ran to 31 Dec 2021 in {t2 - t0:.1f} s (model {t1 - t0:.1f} s, charts {t2 - t1:.1f} s; "
        f"CPU time: model {c1 - c0:.1f} s, charts {c2 - c1:.1f} s)"
    )
    seconds = t2 - t0
    current.value = m
    return seconds


def press_run() -> None:
    s = settings.value
    try:
        s.to_levers()
    except (ParameterError, TypeError, ValueError) as exc:
        settings_error.value = str(exc)
        return
    settings_error.value = ""
    run_to_end(s)


def set_lever(name: str, value: Any) -> None:
    s = settings.value
    settings.value = dataclasses.replace(s, levers={**s.levers, name: value}, edited=True)


def choose_scenario(name: str) -> None:
    try:
        settings.value = load_scenario_settings(name, settings.value.seed)
        settings_error.value = ""
    except (ValueError, OSError) as exc:
        settings_error.value = f"scenario {name}: {exc}"


def set_seed(seed: int | None) -> None:
    if seed is not None and seed >= 0:
        settings.value = dataclasses.replace(settings.value, seed=int(seed))


def back_to_baseline() -> None:
    settings.value = Settings(seed=settings.value.seed)
    settings_error.value = ""
