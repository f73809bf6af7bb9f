"""`alog-matrix run-cell`: run one cell's checks inside the cell's own environment.

Runs in the cell venv (``python -m harness.cell_runner``), never in the orchestrator's. It trains
small DeepLog and MSCRED models with this torch through the converter's own pipeline, exports them
with every strategy, and records one ``CheckResult`` per model and check (``harness.results.CHECKS``).
A check that raises is recorded as ``error`` with its root cause; the runner goes on. After every
check the results so far are written to ``<out>.partial`` so that, if this process dies, the parent
keeps what was measured before the death. The finished result replaces ``<out>`` atomically.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from converter import atomic
from converter.errors import AlogError
from harness.matrix import Cell, Matrix, load_matrix
from harness.results import CHECKS, CellResult, CheckResult

ROOT = Path(__file__).resolve().parent.parent
PARTIAL_SUFFIX = ".partial"

# Test-only fault injection. ALOG_MATRIX_TEST_FAULT="<cell id>:<crash|abort|hang>[@<stage>][,...]"
# makes that cell's runner die of SIGSEGV / SIGABRT, or hang, when it enters <stage> (default: the
# first stage after "environment"). tests/harness uses it to show that the orchestrator records
# crash/timeout, keeps the checks finished before, and goes on with the other cells. Nothing else
# sets it.
TEST_FAULT_ENV = "ALOG_MATRIX_TEST_FAULT"
DEFAULT_FAULT_STAGE = "probe"


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def partial_path(out: Path) -> Path:
    return out.with_name(out.name + PARTIAL_SUFFIX)


def first_line(exc: BaseException) -> str:
    from harness.probes import first_line as _first

    return _first(exc)


def root_cause(exc: BaseException) -> str:
    from harness.probes import root_cause as _root

    return _root(exc)


def _test_fault(cell_id: str, stage: str) -> None:
    for spec in filter(None, os.environ.get(TEST_FAULT_ENV, "").split(",")):
        target, _, rest = spec.partition(":")
        kind, _, at = rest.partition("@")
        if target != cell_id or (at or DEFAULT_FAULT_STAGE) != stage:
            continue
        print(f"test fault: {kind} in cell {cell_id} at stage {stage}", flush=True)
        if kind == "crash":
            os.kill(os.getpid(), signal.SIGSEGV)
        elif kind == "abort":
            os.abort()
        elif kind == "hang":
            while True:
                time.sleep(60)


@dataclass
class Recorder:
    """Collects the cell's checks, applies the cell's expectations, and saves progress."""

    cell: Cell
    out: Path
    result: CellResult
    tolerance: dict[str, Any] = field(default_factory=dict)

    def save_partial(self) -> None:
        atomic.write_json(partial_path(self.out), self.result.to_dict())

    def add(self, model: str, check: str, passed: bool | None, *, skip_reason: str | None = None,
            error: str | None = None, root: str | None = None, **kw: Any) -> CheckResult:
        """passed=True/False is judged against matrix.toml; None with skip_reason is a skip."""
        expectation = self.cell.expected(model, check)
        expected = expectation.outcome if expectation else "pass"
        if passed is None:
            status = "skip"
        elif expected == "fail":
            status = "xpass" if passed else "xfail"
        else:
            status = "pass" if passed else "fail"
        result = CheckResult(
            model=model, check=check, status=status, expected=expected,
            reason=expectation.reason if expectation else skip_reason,
            error=error if status != "skip" else (error or skip_reason), root_cause=root, **kw,
        )
        self.result.checks.append(result)
        self.save_partial()
        return result

    def add_error(self, model: str, check: str, exc: BaseException, seconds: float | None = None) -> None:
        expectation = self.cell.expected(model, check)
        tb = traceback.extract_tb(exc.__traceback__)
        where = f"{Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else None
        self.result.checks.append(CheckResult(
            model=model, check=check, status="error",
            expected=expectation.outcome if expectation else "pass",
            reason=expectation.reason if expectation else None,
            error=f"{type(exc).__name__}: {first_line(exc)}", root_cause=root_cause(exc),
            detail={"raised_at": where} if where else {}, seconds=seconds,
        ))
        self.save_partial()

    def guarded(self, model: str, check: str, fn: Callable[[], None]) -> None:
        """Run one check; any exception becomes an ``error`` record instead of ending the cell."""
        started = time.perf_counter()
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - the runner must never die on one check
            self.add_error(model, check, exc, time.perf_counter() - started)


class Stages:
    """Seconds per stage, kept in the cell result (the bench and the report read them)."""

    def __init__(self, result: CellResult, on_change: Callable[[], None] = lambda: None):
        self.result = result
        self.on_change = on_change  # saves progress, so a later death keeps the stage times

    def timed(self, name: str):
        stages = self.result.stages
        cell_id = self.result.cell_id
        on_change = self.on_change

        class _Timer:
            def __enter__(self_inner):
                self_inner.start = time.perf_counter()
                print(f"stage: {name}", flush=True)
                _test_fault(cell_id, name)

            def __exit__(self_inner, *exc):
                stages[name] = round(stages.get(name, 0.0) + time.perf_counter() - self_inner.start, 3)
                on_change()
                return False

        return _Timer()


def environment(cell: Cell) -> dict[str, Any]:
    from converter import versions

    env = versions.environment()
    env["cell_torch"] = cell.torch  # what the cell asked for; "torch" is what it got
    env["cell_pins"] = " ".join(cell.requirements()[1:])
    return env


def _one_thread() -> int:
    """One intra-op thread: cells run on a small shared machine, where two threads fighting over two
    busy cores made MSCRED training ten times slower (24 s vs 2 s measured); the figures do not change."""
    import torch

    torch.set_num_threads(1)
    return torch.get_num_threads()


def run_cell(cell: Cell, matrix: Matrix, out: Path, work: Path) -> CellResult:
    from harness import cell_checks

    out.parent.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    result = CellResult(cell_id=cell.id, status="error", started=now())
    recorder = Recorder(cell, out, result, dict(matrix.tolerance))
    stages = Stages(result, recorder.save_partial)
    with stages.timed("environment"):
        result.environment = environment(cell)
        result.environment["torch_threads"] = _one_thread()
    recorder.save_partial()
    torch_version = str(result.environment.get("torch") or "")
    if torch_version.split("+")[0] != cell.torch:
        raise AlogError(f"cell {cell.id} wants torch {cell.torch} but this environment has {torch_version or 'no torch'}")
    try:
        cell_checks.run_all(cell, matrix, recorder, stages, work)
    except Exception as exc:  # noqa: BLE001 - a harness bug outside any one check: every unrecorded check says so
        done = {(c.model, c.check) for c in result.checks}
        for model in matrix.models:
            for check in CHECKS:
                if (model, check) not in done:
                    recorder.add_error(model, check, exc)
    result.status = "complete"
    result.finished = now()
    result.write(out)
    partial_path(out).unlink(missing_ok=True)
    return result


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cell", required=True, help="the cell id (from matrix.toml)")
    parser.add_argument("--matrix", type=Path, default=ROOT / "matrix.toml", help="matrix.toml (default: the repository's)")
    parser.add_argument("--out", type=Path, default=None, help="result JSON (default: reports/cells/<cell>.json)")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder for logs, models and artifacts")


def run(args: argparse.Namespace) -> int:
    matrix = load_matrix(args.matrix)
    cell = matrix.cell(args.cell)
    out = args.out or ROOT / "reports" / "cells" / f"{cell.id}.json"
    work = args.work or ROOT / ".nox" / "work" / cell.id
    result = run_cell(cell, matrix, Path(out), Path(work))
    counts: dict[str, int] = {}
    for check in result.checks:
        counts[check.status] = counts.get(check.status, 0) + 1
    print(f"cell {cell.id}: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.cell_runner", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except AlogError as exc:
        print(f"alog-matrix run-cell: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
