"""The parent's record of a cell: the child's ``CellResult`` completed with what only the parent knows.

The child writes its result (and its progress) in the cell's work folder; the parent never edits that
file. It reads it through ``CellResult``, adds the venv and process times, or how the child died, or
why its environment could not be built, and writes ``reports/cells/<id>.json`` once.
"""

from __future__ import annotations

from pathlib import Path

from harness.ground.protocol import now, partial_path
from harness.ground.records import CellResult
from harness.procs.child import ChildOutcome, output_tail, signal_name


def _read(path: Path) -> CellResult | None:
    try:
        return CellResult.read(path)
    except (OSError, ValueError, TypeError, KeyError):
        return None


def _stages(result: CellResult, venv_seconds: float, process_seconds: float | None = None) -> None:
    stages = {"venv": round(venv_seconds, 3), **result.stages}
    if process_seconds is not None:
        stages["cell_process"] = round(process_seconds, 3)
    result.stages = stages


def completed(child_out: Path, venv_seconds: float, outcome: ChildOutcome) -> CellResult | None:
    """The child's finished result with the parent's times, or None when it left none."""
    result = _read(child_out) if outcome.clean else None
    if result is None or result.status != "complete":
        return None
    _stages(result, venv_seconds, outcome.seconds)
    return result


def died(cell_id: str, timeout_s: int, child_out: Path, log_path: Path, outcome: ChildOutcome,
         venv_seconds: float) -> CellResult:
    """A cell that crashed, hung or failed: the checks it finished (its whole result when it wrote one before
    dying, else its progress), and how it died."""
    written = _read(child_out)
    whole = written is not None and written.status == "complete"
    result = (written if whole else None) or _read(partial_path(child_out)) \
        or CellResult(cell_id=cell_id, status="error", started=now())
    stage = " after writing its whole result" if whole else \
        f" during stage {outcome.last_stage}" if outcome.last_stage else ""
    if outcome.timed_out:
        result.status, result.signal = "timeout", "timeout"
        head = f"killed after {timeout_s} s (timeout_s){stage}"
    elif outcome.returncode is not None and outcome.returncode < 0:
        name = signal_name(outcome.returncode)
        result.status, result.signal = "crash", name
        hint = " (out of memory? the kernel's OOM killer sends SIGKILL)" if name == "SIGKILL" else ""
        head = f"the cell process died of {name}{stage}{hint}"
    elif whole:  # its checks are all saved, but the process ended badly (an atexit handler, os._exit): a crash
        result.status, result.signal = "crash", f"exit code {outcome.returncode}"
        head = f"the cell process exited with code {outcome.returncode}{stage}"
    else:
        result.status = "error"
        head = f"the cell runner exited with code {outcome.returncode}{stage}"
    result.output_tail = head + "\n" + output_tail(log_path)
    result.finished = now()
    _stages(result, venv_seconds, outcome.seconds)
    return result


def interrupted(cell_id: str, child_out: Path, log_path: Path, signal_name: str, venv_seconds: float) -> CellResult:
    """A cell stopped because the run was interrupted: what it finished, and that it did not finish."""
    result = _read(partial_path(child_out)) or CellResult(cell_id=cell_id, status="interrupted", started=now())
    result.status = "interrupted"
    result.output_tail = f"the run was interrupted by {signal_name}; the cell did not finish\n" + output_tail(log_path)
    result.finished = now()
    _stages(result, venv_seconds)
    return result


def env_failed(cell_id: str, message: str, seconds: float) -> CellResult:
    return CellResult(cell_id=cell_id, status="error", started=now(), finished=now(),
                      stages={"venv": round(seconds, 3)}, output_tail=f"building the cell venv failed: {message}")
