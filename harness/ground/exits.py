"""Exit codes, for every ``alog-matrix`` subcommand and child runner (README "Exit codes"), and the one
policy that turns what a command raised into one of them:

  0  PASS: the gate passed (or the command did what was asked)
  1  FAIL: the gate found a failure (only the gate's verdict returns it)
  2  no evidence, or a usage error: bad options, a bad matrix.toml, missing or unreadable results
  3  internal error: the harness itself broke (never 1, so a broken harness never reads as a broken converter)
Errors are one line on stderr; ALOG_DEBUG=1 adds the traceback.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from converter.errors import AlogError, describe
from harness.ground.protocol import RunInterrupted

EXIT_PASS, EXIT_FAIL, EXIT_NO_EVIDENCE, EXIT_INTERNAL = 0, 1, 2, 3
EXIT_INTERRUPTED = 130
DEBUG_ENV = "ALOG_DEBUG"


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
