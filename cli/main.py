"""The ``telesim`` command line: ``telesim <command> [options]``.

Each command lives in its own module exposing two functions:

* ``add_parser(subparsers)`` — add its sub-parser (``subparsers.add_parser(NAME, ...)``) and its
  options; it should not import the model or other heavy modules, so ``telesim --help`` stays fast;
* ``run(args) -> int`` — do the work and return the exit status.

To add a command, write the module and list it in :data:`COMMAND_MODULES`. A listed module that
does not exist yet is skipped silently, so the CLI keeps working while commands are being written;
one that exists but fails to import still gets its name, and running it reports the import error.

Errors: a ``ValueError`` (``model.ParameterError`` is one) raised by a command is a bad input, not a
bug: it is printed as one line, ``telesim <command>: error: <message>``, and the exit status is 2,
as for argparse's own usage errors. Set ``TELESIM_DEBUG=1`` to get the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

#: Command modules, in the order shown by ``telesim --help``.
COMMAND_MODULES: list[str] = [
    "cli.run_cmd",
    "cli.calibrate_cmd",
    "cli.experiment_cmd",
    "cli.report_cmd",
    "cli.dashboard_cmd",
]

#: Exit status for bad command-line input (argparse uses the same).
USAGE_ERROR = 2


def _load(module_name: str):
    """Import a command module; None if it does not exist (yet)."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None
        return _Broken(module_name, exc)
    except Exception as exc:  # a module being written may not even parse yet
        return _Broken(module_name, exc)


class _Broken:
    """Stands in for a command module that exists but fails to import."""

    def __init__(self, module_name: str, exc: BaseException):
        self.name = module_name.rsplit(".", 1)[-1].removesuffix("_cmd")
        self.module_name = module_name
        self.exc = exc

    def add_parser(self, subparsers) -> None:
        p = subparsers.add_parser(
            self.name,
            help=f"(unavailable: {self.module_name} failed to import)",
            add_help=False,
        )
        p.add_argument("rest", nargs=argparse.REMAINDER)

    def run(self, args) -> int:
        print(
            f"telesim {self.name}: error: {self.module_name} failed to import: "
            f"{type(self.exc).__name__}: {self.exc}",
            file=sys.stderr,
        )
        return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="telesim",
        description="Agent-based model of teleconsultation adoption in France, 2018-2021.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for module_name in COMMAND_MODULES:
        module = _load(module_name)
        if module is None:
            continue
        before = set(subparsers.choices)
        module.add_parser(subparsers)
        for name in set(subparsers.choices) - before:
            subparsers.choices[name].set_defaults(_command_run=module.run, _command_name=name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``telesim`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = ["telesim", *argv]
    try:
        return int(args._command_run(args) or 0)
    except ValueError as exc:
        if os.environ.get("TELESIM_DEBUG"):
            raise
        print(f"telesim {args._command_name}: error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        print(f"telesim {args._command_name}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
