"""The what-if page: a Mesa SolaraViz page over the téléconsultation model.

Serve it with ``telesim dashboard`` (or ``solara run app.page``) and open the printed address.

The page is a SolaraViz page whose model is :class:`app.whatif.WhatIfModel` (one telesim run for
the page's settings). The sidebar holds the what-if settings (:mod:`app.controls`) followed by
SolaraViz's own controls: *Reset* builds a new model from the current settings at week 0, *Step*
advances it (``render_interval`` weeks a click), *Play* animates it. **Run to end-2021** runs the
whole horizon in one go (:mod:`app.state`) and replaces SolaraViz's model, which redraws the page.
The results are custom Solara components showing the totals and charts of :mod:`app.charts`.

SolaraViz renders its main component grid only when given components; ours are laid out by
:func:`Page` below SolaraViz's app bar instead of in SolaraViz's draggable grid, whose fixed
cell heights clip tall figures. ``page`` is the page element (the Mesa convention); ``Page`` the
component solara serves.

The page's package imports solara and mesa's visualisation package; nothing below it in the
house imports it (``docs/architecture.md``), so the model stays light.
"""

from __future__ import annotations

import html
import warnings

import solara

with warnings.catch_warnings():
    # solara's hook checker flags SolaraViz's ComponentsView (early return before a hook); we
    # always pass no components, so the early return is taken on every render and is harmless
    warnings.filterwarnings("ignore", message=".*ComponentsView.*", category=UserWarning)
    from mesa.visualization import SolaraViz

from .charts import chart_images, totals_html
from .controls import SettingsPanel
from .state import current, settings
from .whatif import WhatIfModel

try:  # redraw after SolaraViz's Step/Play (present in Mesa 3.3 and later 3.x)
    from mesa.visualization.utils import update_counter
except ImportError:  # pragma: no cover - a Mesa without it: the page still works, Play redraws less
    update_counter = None


@solara.component
def Chart(name: str, image: bytes):
    with solara.Column(classes=["telesim-chart", f"chart-{name}"], style={"min-width": "0"}):
        solara.Image(image, format="png", width="100%")


@solara.component
def Results(model: WhatIfModel):
    """The totals and the charts of the model SolaraViz holds, beside the baseline."""
    if update_counter is not None:
        update_counter.get()  # redraw after SolaraViz's Step and Play
    m = model
    images = solara.use_memo(lambda: chart_images(m), dependencies=[id(m), m.weeks_done])
    s = m.settings
    with solara.Column(classes=["telesim-results"], style={"padding": "8px"}):
        state = (
            "full horizon, 15 Sep 2018 to 31 Dec 2021"
            if m.finished
            else f"{m.weeks_done} of {m.tele.n_weeks} weeks simulated (Play or Step to go on, "
            "or Run to end-2021)"
        )
        solara.HTML(
            tag="div",
            unsafe_innerHTML=f"<b>Showing:</b> {html.escape(s.label())} — {state}. Grey dashed "
            "lines and bars: the baseline (rules and dates as they were, no COVID) with the same "
            f"seed. Uncertainties: {html.escape(m.uncertainties_source)}.",
        )
        solara.Text(m.timing_note, classes=["telesim-last-run"], style={"color": "#555"})
        solara.HTML(tag="div", unsafe_innerHTML=totals_html(m), classes=["telesim-totals"])
        with solara.Columns([1, 1]):
            Chart("weekly", images["weekly"])
            Chart("cumulative", images["cumulative"])
        with solara.Columns([1, 1]):
            Chart("doctors", images["doctors"])
            Chart("types", images["types"])
        with solara.Columns([1, 1]):
            Chart("regions", images["regions"])
            solara.HTML(tag="div", unsafe_innerHTML=HELP, style="padding: 16px; font-size: 14px")


# (HTML, not Markdown: solara's Markdown pulls KaTeX styles from a CDN, unreachable offline)
HELP = """
<p><b>How to use this page.</b> Pick a scenario to start from, move the levers on the left, and
press <b>Run to end-2021</b>: the model reruns 15 Sep 2018 – 31 Dec 2021 with those settings and
every chart shows the result (blue) beside the baseline (grey). <i>Reset</i>, <i>Step</i> and
<i>Play</i> in the left panel do the same week by week (Reset starts again from week 0 with the
current settings; Step advances 13 weeks).</p>
<p>Counts are national teleconsultation acts reimbursed by the national insurance. The targets are
the government's: 500,000 acts in 2019, 1 million in 2020 and 1.3 million in 2021. Observed points
are the published counts the model was calibrated on (hollow: approximate; triangles: lower
bounds).</p>
"""


@solara.component
def Page():
    """The page solara serves: SolaraViz's shell (app bar, Mesa controls) and the what-if panels."""
    SolaraViz(
        current,
        components=[],
        model_params={"settings": settings},
        name="telesim — what if? Teleconsultation in France, 2018-2021",
        render_interval=13,
        play_interval=50,
    )
    with solara.Sidebar():
        SettingsPanel()
    Results(current.value)


#: The page element (Mesa's convention: ``page = SolaraViz(...)``; here the SolaraViz page with
#: the what-if panels around it).
page = Page()
