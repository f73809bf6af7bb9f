"""`alog-matrix` entry point: each subcommand lives in its own module with
``add_arguments(parser)`` and ``run(args) -> int`` (the exit code).

Exit codes, for every subcommand (README "Exit codes"):
  0  PASS: the gate passed (or the command did what was asked)
  1  FAIL: the gate found a failure (only the gate's verdict returns it)
  2  no evidence, or a usage error: bad options, a bad matrix.toml, missing or unreadable results
  3  internal error: the harness itself broke (never 1, so a broken harness never reads as a broken converter)
Errors are one line on stderr; ALOG_DEBUG=1 adds the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from converter.errors import AlogError, describe
from harness.child import RunInterrupted

EXIT_PASS, EXIT_FAIL, EXIT_NO_EVIDENCE, EXIT_INTERNAL = 0, 1, 2, 3
EXIT_INTERRUPTED = 130
DEBUG_ENV = "ALOG_DEBUG"

# subcommand -> (module, one-line help)
COMMANDS = {
    "run": ("harness.orchestrator", "run the matrix (every cell, or --cells), then report and gate"),
    "run-cell": ("harness.cell_runner", "run one cell's checks inside the current environment"),
    "report": ("harness.report", "build reports/index.html, matrix.json, junit.xml and summary.md"),
    "gate": ("harness.gate", "turn reports/matrix.json into a verdict and an exit code"),
    "gha-matrix": ("harness.fanout", "print the cells as a GitHub Actions matrix"),
    "localize": ("harness.localize.command", "name the first node where an artifact's numbers go wrong"),
}


def run_command(prog: str, body: Callable[[], int]) -> int:
    """Run a command under the exit-code policy: its own code, or 2 / 3 / 130 with one line on stderr."""
    try:
        return int(body() or 0)
    except AlogError as exc:
        _debug_traceback()
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_NO_EVIDENCE
    except RunInterrupted as stop:
        several = stop.cell and ", " in stop.cell
        where = f"; cell{'s' if several else ''} {stop.cell} {'are' if several else 'is'} recorded as interrupted" \
            if stop.cell else ""
        print(f"{prog}: interrupted by {stop}{where}", file=sys.stderr)
        return stop.exit_code
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - a harness bug: exit 3, never the gate's FAIL code
        _debug_traceback()
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" ({Path(tb[-1].filename).name}:{tb[-1].lineno})" if tb else ""
        hint = "" if os.environ.get(DEBUG_ENV) == "1" else f"; {DEBUG_ENV}=1 shows the traceback"
        print(f"{prog}: internal error: {describe(exc)}{where}{hint}", file=sys.stderr)
        return EXIT_INTERNAL


def _debug_traceback() -> None:
    if os.environ.get(DEBUG_ENV) == "1":
        traceback.print_exc(file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alog-matrix", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        sub_parser = sub.add_parser(name, help=help_text)
        module.add_arguments(sub_parser)
        sub_parser.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # a usage error exits 2 here, argparse's code
    return run_command(f"alog-matrix {args.command}", lambda: args._module.run(args))


if __name__ == "__main__":
    sys.exit(main())
