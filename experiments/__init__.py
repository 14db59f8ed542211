"""Scenario experiments: scenario files, the runner, outcomes, least change, sensitivity, report.

Running (``runner``, ``least_change``, ``sensitivity``) is kept apart from analysing
(``outcomes``, ``report``): the analysis reads only what the runs left on disk, so a report can be
rebuilt, and an interrupted experiment resumed, without re-running anything.
"""
