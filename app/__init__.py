"""The what-if page (``telesim dashboard``): move the levers, run to end-2021, compare.

Split by job: ``whatif`` (settings, the model the page steps, what the charts draw), ``charts``
(the totals table and figures), ``state`` (one browser session's state and actions),
``controls`` (the left panel) and ``page`` (the page solara serves: ``solara run app.page``).
Nothing below this package in the house imports it (``docs/architecture.md``).
"""
