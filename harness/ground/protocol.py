"""How the orchestrator and its child processes (cell runners, runtime runners) talk.

A child learns its parent from ``PARENT_ENV`` (and dies with it), announces each stage it enters with a
``STAGE_PREFIX`` line on its output, and saves what it measured so far to a partial file beside its
result, so a parent whose child died keeps every check finished before the death.
"""

from __future__ import annotations

import atexit
import datetime as _dt
import os
import signal
import time
from pathlib import Path

PARENT_ENV = "ALOG_MATRIX_PARENT_PID"  # set by the orchestrator (harness.procs.child)
STAGE_PREFIX = "stage: "  # the orchestrator follows a child's progress through these lines
PARTIAL_SUFFIX = ".partial"

# Test-only fault injection. ALOG_MATRIX_TEST_FAULT="<cell id>:<crash|abort|hang|raise|exit>[@<stage>][,...]"
# makes that cell's runner die of SIGSEGV / SIGABRT, hang, raise RuntimeError or leave with os._exit(1) when
# it enters <stage> (default: the first stage after "environment"; "venv" is the orchestrator's own stage, so
# a fault there happens in the parent). Besides the stages the runner announces: "finish" (every check saved,
# the result not yet written), "written" (the whole result written) and "atexit" (an atexit handler, at
# interpreter exit). tests/matrix_harness uses it to show that the orchestrator records crash/timeout,
# keeps the checks finished before, goes on with the other cells, and that a harness crash exits 3.
# Nothing else sets it.
TEST_FAULT_ENV = "ALOG_MATRIX_TEST_FAULT"
DEFAULT_FAULT_STAGE = "probe"
EXIT_FAULT_STAGE = "atexit"


def now() -> str:
    """The time of a record, in UTC to the second (every started/finished/created field)."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def partial_path(out: Path) -> Path:
    """Where a child keeps its progress until its result is written whole."""
    return out.with_name(out.name + PARTIAL_SUFFIX)


class RunInterrupted(Exception):
    """SIGTERM or SIGINT reached the orchestrator: the cell in progress is stopped and recorded as interrupted."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.cell: str | None = None  # the cell it stopped, once recorded

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # 143 for SIGTERM, 130 for SIGINT, as a shell reports them


def _faults(cell_id: str, stage: str) -> list[str]:
    """The fault kinds ALOG_MATRIX_TEST_FAULT names for this cell at this stage."""
    kinds = []
    for spec in filter(None, os.environ.get(TEST_FAULT_ENV, "").split(",")):
        target, _, rest = spec.partition(":")
        kind, _, at = rest.partition("@")
        if target == cell_id and (at or DEFAULT_FAULT_STAGE) == stage:
            kinds.append(kind)
    return kinds


def arm_exit_fault(cell_id: str) -> None:
    """Register the cell's "atexit" fault, if it has one, to happen at interpreter exit."""
    if _faults(cell_id, EXIT_FAULT_STAGE):
        atexit.register(inject_test_fault, cell_id, EXIT_FAULT_STAGE)


def inject_test_fault(cell_id: str, stage: str) -> None:
    for kind in _faults(cell_id, stage):
        print(f"test fault: {kind} in cell {cell_id} at stage {stage}", flush=True)
        if kind == "crash":
            os.kill(os.getpid(), signal.SIGSEGV)
        elif kind == "abort":
            os.abort()
        elif kind == "hang":
            while True:
                time.sleep(60)
        elif kind == "raise":
            raise RuntimeError(f"test fault: raise in cell {cell_id} at stage {stage}")
        elif kind == "exit":
            os._exit(1)  # no cleanup, no atexit: as a native library's exit(1) would
