"""Markdown tables of the uncertainties and levers, generated from ``model.params``.

    python -m cli.docs                              # print both tables
    python -m cli.docs --update docs/model.md       # rewrite the tables between the markers
    python -m cli.docs --check docs/model.md        # exit 1 if docs/model.md is out of date

``docs/model.md`` keeps each table between ``<!-- BEGIN <name> table -->`` and
``<!-- END <name> table -->`` (``<name>`` is ``uncertainties`` or ``levers``), so ``--update`` can
regenerate them in place.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
from pathlib import Path
from typing import Any

from infra.atomic import atomic_write_text

GROUPS = ("uncertainties", "levers")


def _fmt(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _range(spec: dict[str, Any]) -> str:
    low, high = spec.get("low"), spec.get("high")
    if low is None and high is None:
        return "true / false" if spec.get("type") == "bool" else "—"
    return f"{_fmt(low)} … {_fmt(high)}"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def table(group: str) -> str:
    """The markdown table of ``group`` (``"uncertainties"`` or ``"levers"``)."""
    from model.params import Levers, Uncertainties

    if group == "uncertainties":
        header = "| name | default | range | fitted | meaning |\n|---|---|---|---|---|"
        rows = [
            f"| `{s['name']}` | {_fmt(s['default'])} | {_range(s)} | "
            f"{'yes' if s.get('calibrate') else 'no'} | {_cell(s.get('doc', ''))} |"
            for s in Uncertainties.specs()
        ]
    elif group == "levers":
        header = "| name | baseline | range | meaning |\n|---|---|---|---|"
        rows = [
            f"| `{s['name']}` | {_fmt(s['default'])} | {_range(s)} | {_cell(s.get('doc', ''))} |"
            for s in Levers.specs()
        ]
    else:
        raise ValueError(f"unknown group {group!r}; allowed: {', '.join(GROUPS)}")
    return "\n".join([header, *rows])


def _block(group: str) -> str:
    return f"<!-- BEGIN {group} table -->\n{table(group)}\n<!-- END {group} table -->"


def update_text(text: str) -> str:
    """``text`` with every marked table replaced by a freshly generated one."""
    for group in GROUPS:
        pattern = re.compile(
            rf"<!-- BEGIN {group} table -->.*?<!-- END {group} table -->", flags=re.DOTALL
        )
        text = pattern.sub(lambda _m, g=group: _block(g), text)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cli.docs", description=__doc__.split("\n\n")[0]
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--update", type=Path, metavar="FILE", help="rewrite the marked tables")
    action.add_argument("--check", type=Path, metavar="FILE", help="fail if tables are stale")
    args = parser.parse_args(argv)
    if args.update or args.check:
        path = args.update or args.check
        old = path.read_text(encoding="utf-8")
        new = update_text(old)
        if args.check:
            if new != old:
                print(
                    f"{path}: parameter tables are out of date; run "
                    f"python -m cli.docs --update {path}",
                    file=sys.stderr,
                )
                return 1
            return 0
        if new != old:
            atomic_write_text(path, new)
            print(f"updated {path}")
        return 0
    for group in GROUPS:
        print(f"### {group.capitalize()}\n\n{table(group)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
