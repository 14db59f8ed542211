"""``telesim report``: write the experiment's report (Markdown, figures, CSV tables).

    telesim report [--experiment DIR] [--out DIR]

Every number is recomputed from the runs on disk; re-running reproduces the report.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "report",
        help="write results/report/report.md and figures from an experiment's runs on disk",
        description="Recompute every outcome (annual acts, hit probabilities, paired "
        "differences, least change, sensitivity, regions) from the runs of an experiment folder "
        "and write report.md, figures/ and tables/ atomically; prints the short answer.",
    )
    p.add_argument(
        "--experiment",
        type=Path,
        default=None,
        help="experiment folder (default results/experiments)",
    )
    p.add_argument("--out", type=Path, default=None, help="report folder (default results/report)")
    return p


def run(args) -> int:
    from experiments import report
    from experiments.runner import DEFAULT_OUT

    report.write_report(args.experiment or DEFAULT_OUT, args.out or report.DEFAULT_REPORT)
    return 0
