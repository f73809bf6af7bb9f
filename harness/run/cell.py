"""`alog-matrix run-cell`: run one cell's checks inside the cell's own environment.

Runs in the cell venv (``python -m harness.cli run-cell``), never in the orchestrator's. It walks the check
registry (``harness.checks``) for every model of the matrix and records one ``CheckResult`` per model and
check. A check that raises is recorded as ``error`` with its root cause; the runner goes on. After every
check the result so far is written to ``<out>.partial``, so that if this process dies the parent keeps what
was measured before the death. The finished result is written to ``<out>`` once, atomically.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import signal
import sys
from pathlib import Path

from converter import atomic
from converter.errors import AlogError
from harness.config.matrix import Cell, Matrix, load_matrix
from harness.evidence.keys import own_packages
from harness.ground.digests import files_digests
from harness.ground.names import CHECK_NAMES
from harness.ground.paths import state_for
from harness.ground.protocol import PARENT_ENV, STAGE_PREFIX, arm_exit_fault, inject_test_fault, now, partial_path
from harness.ground.records import CellResult

PR_SET_PDEATHSIG = 1  # linux/prctl.h
RUNNER_LOCK = ".runner.lock"  # held in the cell's work folder while a runner works there


def die_with_parent() -> None:
    """Have the kernel send this runner SIGTERM when its orchestrator dies, however it dies (kill -9
    included), and stop now if it is already gone: a runner never outlives the run that started it."""
    parent = os.environ.get(PARENT_ENV)
    if not parent:
        return  # run by hand: nobody to die with
    with contextlib.suppress(OSError, AttributeError):  # not Linux: the orchestrator's kill of the group remains
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != int(parent):
        sys.exit(128 + signal.SIGTERM)


def stop_group_on_term() -> None:
    """SIGTERM or SIGINT stop the runner's whole process group (the parity suite, the engine) with it,
    when the runner leads its group (the orchestrator starts it in a session of its own)."""
    if os.getpgrp() != os.getpid():
        return  # run by hand inside someone else's group: leave that group alone

    def stop(signum, _frame):
        signal.signal(signum, signal.SIG_DFL)
        os.killpg(os.getpgrp(), signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)


def environment(cell: Cell) -> dict:
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


def run_cell(cell: Cell, matrix: Matrix, out: Path, work: Path, golden: Path | None = None,
             keep: Path | None = None) -> CellResult:
    from harness.checks.context import CellContext, Stages
    from harness.checks.recorder import Recorder, run_registry

    out.parent.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    result = CellResult(cell_id=cell.id, status="error", started=now())

    def save(progress: CellResult) -> None:
        atomic.write_json(partial_path(out), progress.to_dict())

    def announce(stage: str) -> None:
        print(f"{STAGE_PREFIX}{stage}", flush=True)
        inject_test_fault(cell.id, stage)

    stages = Stages(result.stages, on_enter=announce, on_change=lambda: save(result))
    with stages.timed("environment"):
        result.environment = environment(cell)
        result.environment["torch_threads"] = _one_thread()
    torch_version = str(result.environment.get("torch") or "")
    if torch_version.split("+")[0] != cell.torch:
        found = torch_version or "no torch"
        raise AlogError(f"cell {cell.id} wants torch {cell.torch} but this environment has {found}")
    recorder = Recorder(cell, result, save)
    try:
        run_registry(CellContext(cell, matrix, work, stages, golden_dir=golden, keep_dir=keep), recorder)
    except Exception as exc:  # noqa: BLE001 - a harness bug outside any one check: every unrecorded check says so
        done = result.recorded()
        for model in matrix.models:
            for check in CHECK_NAMES:
                if (model, check) not in done:
                    recorder.error(model, check, exc)
    result.packages = own_packages()  # the venv's own view of itself: part of this result's evidence key
    result.kept = files_digests(keep) if keep is not None else {}  # what the runtime stage and report verify
    inject_test_fault(cell.id, "finish")
    result.status = "complete"
    result.finished = now()
    result.write(out)
    partial_path(out).unlink(missing_ok=True)
    inject_test_fault(cell.id, "written")
    return result


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cell", required=True, help="the cell id (from matrix.toml)")
    parser.add_argument("--matrix", type=Path, default=None,
                        help="the matrix file (default: gate.toml, else matrix.toml, in the current folder)")
    parser.add_argument("--out", type=Path, default=None, help="result JSON (default: reports/cells/<cell>.json)")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder for logs, models and artifacts")
    parser.add_argument("--golden", type=Path, default=None,
                        help="the run's golden data (default: reports/golden, as alog-matrix run makes it)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep every artifact the cell makes here, by strategy (default: reports/artifacts/<cell>)")


def run(args: argparse.Namespace) -> int:
    from harness.procs import locks

    die_with_parent()
    stop_group_on_term()
    arm_exit_fault(args.cell)
    matrix = load_matrix(args.matrix)
    cell = matrix.cell(args.cell)
    state = state_for(matrix.path)
    out = args.out or state.reports / "cells" / f"{cell.id}.json"
    work = Path(args.work or state.work / cell.id)
    with locks.hold(work, f"the work folder of cell {cell.id}", RUNNER_LOCK):
        keep = args.keep or state.reports / "artifacts" / cell.id
        result = run_cell(cell, matrix, Path(out), work, golden=args.golden or state.reports / "golden", keep=keep)
    print(f"cell {cell.id}: {result.counts_line()}", flush=True)
    return 0
