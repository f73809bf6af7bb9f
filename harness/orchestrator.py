"""`alog-matrix run`: every cell (or --cells) in its own venv and its own process, then report and gate.

For each cell: check disk, build or reuse its venv (harness.envs), run ``harness.cell_runner`` in a
child process (its own session, so a timeout kills the whole tree) with the cell's time limit. A
child that dies by a signal is recorded as ``crash`` (the signal's name), one that outlives its
limit as ``timeout``, each with the tail of its output and the checks it finished before dying; the
other cells go on. One JSON per cell lands in ``<out>/cells`` (written atomically); then
``harness.report.build_report`` writes the report and ``harness.gate`` decides the exit code.

Without --resume the selected cells' old results are removed first; with --resume a cell whose
result is complete is kept and not run again. Results of cells not selected stay as they are.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from converter.errors import AlogError
from harness import cell_runner, disk, envs
from harness.cell_checks import ENGINE_ENV, ENGINE_ERROR_ENV
from harness.matrix import DEFAULT_MATRIX, Cell, Matrix, load_matrix
from harness.progress import Progress
from harness.results import CellResult

ROOT = Path(__file__).resolve().parent.parent
TAIL_LINES = 40
TAIL_CHARS = 6000
KILL_GRACE_S = 5.0


@dataclass
class RunOptions:
    out_dir: Path = ROOT / "reports"
    env_root: Path = envs.CELLS_ENV_DIR
    work_root: Path = ROOT / ".nox" / "work"
    resume: bool = False
    host: bool = False  # run the cells in this interpreter instead of building venvs
    build_engine: bool = True
    report: bool = True
    child_env: dict[str, str] = field(default_factory=dict)  # extra environment for the cell processes

    @property
    def cells_dir(self) -> Path:
        return self.out_dir / "cells"


@dataclass
class ChildOutcome:
    returncode: int | None
    timed_out: bool
    seconds: float
    last_stage: str | None


# --- one cell ----------------------------------------------------------------------------------


def result_path(cells_dir: Path, cell: Cell) -> Path:
    return cells_dir / f"{cell.id}.json"


def is_finished(path: Path) -> bool:
    try:
        return CellResult.read(path).status == "complete"
    except (OSError, ValueError, TypeError, KeyError):
        return False


def clear_results(cells_dir: Path, cell: Cell) -> None:
    out = result_path(cells_dir, cell)
    for stale in (out, cell_runner.partial_path(out), out.with_suffix(".log")):
        stale.unlink(missing_ok=True)


def output_tail(log_path: Path) -> str:
    try:
        lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-TAIL_LINES:])[-TAIL_CHARS:]


def run_child(cmd: list[str], env: dict[str, str], log_path: Path, timeout_s: float,
              on_stage: Callable[[str], None] = lambda s: None) -> ChildOutcome:
    """Run ``cmd`` in its own session, output to ``log_path``; kill the whole group at the limit."""
    started = time.monotonic()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, cwd=ROOT, start_new_session=True)
    deadline = started + timeout_s
    seen = 0
    last_stage = None
    timed_out = False
    while True:
        try:
            proc.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            pass
        seen, stages = _scan_stages(log_path, seen)
        for stage in stages:
            last_stage = stage
            on_stage(stage)
        if proc.returncode is not None:
            break
        if time.monotonic() > deadline:
            timed_out = True
            _kill_group(proc)
            break
    return ChildOutcome(proc.returncode, timed_out, time.monotonic() - started, last_stage)


def _scan_stages(log_path: Path, offset: int) -> tuple[int, list[str]]:
    """The "stage: X" lines the runner printed since ``offset``."""
    try:
        with open(log_path, "rb") as log:
            log.seek(offset)
            chunk = log.read()
    except OSError:
        return offset, []
    end = chunk.rfind(b"\n") + 1  # only whole lines
    stages = [line[len("stage: "):].strip() for line in chunk[:end].decode("utf-8", errors="replace").splitlines()
              if line.startswith("stage: ")]
    return offset + end, stages


def _kill_group(proc: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, KILL_GRACE_S), (signal.SIGKILL, 30.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def signal_name(returncode: int) -> str:
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


def record_death(cell: Cell, out: Path, log_path: Path, outcome: ChildOutcome, venv_seconds: float) -> CellResult:
    """The parent's record of a cell that crashed, hung or failed: what it finished, and how it died."""
    partial = cell_runner.partial_path(out)
    try:
        result = CellResult.read(partial)
    except (OSError, ValueError, TypeError, KeyError):
        result = CellResult(cell_id=cell.id, status="error", started=cell_runner.now())
    stage = f" during stage {outcome.last_stage}" if outcome.last_stage else ""
    if outcome.timed_out:
        result.status, result.signal = "timeout", "timeout"
        head = f"killed after {cell.timeout_s} s (timeout_s){stage}"
    elif outcome.returncode is not None and outcome.returncode < 0:
        name = signal_name(outcome.returncode)
        result.status, result.signal = "crash", name
        hint = " (out of memory? the kernel's OOM killer sends SIGKILL)" if name == "SIGKILL" else ""
        head = f"the cell process died of {name}{stage}{hint}"
    else:
        result.status = "error"
        head = f"the cell runner exited with code {outcome.returncode}{stage}"
    result.output_tail = head + "\n" + output_tail(log_path)
    result.finished = cell_runner.now()
    result.stages = {"venv": round(venv_seconds, 3), **result.stages, "cell_process": round(outcome.seconds, 3)}
    result.write(out)
    partial.unlink(missing_ok=True)
    return result


def record_env_failure(cell: Cell, out: Path, message: str, seconds: float) -> CellResult:
    result = CellResult(cell_id=cell.id, status="error", started=cell_runner.now(), finished=cell_runner.now(),
                        stages={"venv": round(seconds, 3)}, output_tail=f"building the cell venv failed: {message}")
    result.write(out)
    return result


def run_one(cell: Cell, matrix: Matrix, opts: RunOptions, progress: Progress) -> CellResult:
    out = result_path(opts.cells_dir, cell)
    log_path = out.with_suffix(".log")
    progress.stage("venv")
    started = time.monotonic()
    if opts.host:
        python, venv_seconds = Path(sys.executable), 0.0
    else:
        try:
            cell_env = envs.ensure_env(cell, opts.env_root, log=lambda line: progress.stage(f"venv: {line[:90]}"))
        except AlogError as exc:
            return record_env_failure(cell, out, str(exc), time.monotonic() - started)
        python, venv_seconds = cell_env.python, cell_env.seconds
        progress.stage(f"venv {'reused' if cell_env.reused else 'built'} in {venv_seconds:.1f} s")
    work = opts.work_root / cell.id
    cmd = [str(python), "-m", "harness.cell_runner", "--cell", cell.id, "--matrix", str(matrix.path.resolve()),
           "--out", str(out), "--work", str(work)]
    env = child_environment(python, opts)
    outcome = run_child(cmd, env, log_path, cell.timeout_s, on_stage=progress.stage)
    if outcome.returncode == 0 and not outcome.timed_out and out.is_file():
        result = CellResult.read(out)
        result.stages = {"venv": round(venv_seconds, 3), **result.stages, "cell_process": round(outcome.seconds, 3)}
        result.write(out)
        return result
    return record_death(cell, out, log_path, outcome, venv_seconds)


def child_environment(python: Path, opts: RunOptions) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("VIRTUAL_ENV", None)
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("OMP_NUM_THREADS", "1")  # see cell_runner._one_thread
    env.update(opts.child_env)
    return env


def summary_line(result: CellResult) -> str:
    counts: dict[str, int] = {}
    for check in result.checks:
        counts[check.status] = counts.get(check.status, 0) + 1
    parts = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no checks"
    total = result.stages.get("venv", 0.0) + result.stages.get("cell_process", 0.0)
    if result.status == "complete":
        return f"complete ({parts}) in {total:.0f} s"
    how = result.signal if result.status in ("crash", "timeout") else "error"
    first = (result.output_tail or "").splitlines()[:1]
    return f"{result.status.upper()} {how}: {first[0] if first else ''} ({parts})"


# --- the whole run --------------------------------------------------------------------------------


def build_engine_once(opts: RunOptions, progress: Progress) -> None:
    """``make -C cengine`` in this (host) environment, once; the cells get the binary's path."""
    if not opts.build_engine or ENGINE_ENV in opts.child_env:
        return
    progress.message("building the C engine (make -C cengine)")
    try:
        from harness import cengine

        opts.child_env[ENGINE_ENV] = str(cengine.ensure_built())
    except Exception as exc:  # noqa: BLE001 - the cells record it in their cengine check
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        progress.message(f"C engine build failed: {message}")
        opts.child_env[ENGINE_ERROR_ENV] = message


def run_matrix(matrix: Matrix, cells: tuple[Cell, ...], opts: RunOptions) -> int:
    opts.cells_dir.mkdir(parents=True, exist_ok=True)
    to_run = []
    for cell in cells:
        if opts.resume and is_finished(result_path(opts.cells_dir, cell)):
            continue
        clear_results(opts.cells_dir, cell)
        to_run.append(cell)
    if not opts.host:
        disk.require_space(tuple(to_run), matrix, opts.env_root)
    progress = Progress(len(cells))
    started = time.monotonic()
    try:
        if to_run:
            build_engine_once(opts, progress)
        for index, cell in enumerate(cells, start=1):
            progress.cell(index, cell.id)
            if cell not in to_run:
                progress.done("kept (finished earlier; --resume)")
                continue
            result = run_one(cell, matrix, opts, progress)
            progress.done(summary_line(result))
    finally:
        progress.close()
    print(f"alog-matrix: {len(to_run)} cell(s) run in {time.monotonic() - started:.0f} s; results in {opts.cells_dir}",
          file=sys.stderr)
    if not opts.report:
        return 0
    return report_and_gate(matrix, opts)


def report_and_gate(matrix: Matrix, opts: RunOptions) -> int:
    """harness.report writes the report; harness.gate judges it; its exit code is ours."""
    from harness import gate, report
    from harness.report_model import policy_from

    try:
        index = report.build_report(opts.cells_dir, matrix, opts.out_dir)
        doc = gate.read_report(opts.out_dir / "matrix.json")
    except Exception as exc:  # noqa: BLE001 - no report means no evidence: the gate's "error" exit
        where = traceback.extract_tb(exc.__traceback__)[-1]
        print(f"alog-matrix: building the report failed: {type(exc).__name__}: {exc} "
              f"({Path(where.filename).name}:{where.lineno})", file=sys.stderr)
        return gate.EXIT_NO_EVIDENCE
    verdict = gate.decide(doc, policy=policy_from(matrix), expected_cells=[c.id for c in matrix.cells],
                          report_path=str(index))
    for message in verdict.messages:
        print(f"  {message}")
    print(verdict.line)
    return verdict.exit_code


# --- CLI -------------------------------------------------------------------------------------------


def parse_cell_ids(values: list[str] | None) -> list[str]:
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--matrix", type=Path, default=DEFAULT_MATRIX, help="matrix.toml (default: the repository's)")
    parser.add_argument("--cells", action="append", metavar="ID[,ID]", help="run only these cells")
    parser.add_argument("--resume", action="store_true", help="keep finished cell results and run only the rest")
    parser.add_argument("--out", type=Path, default=ROOT / "reports", help="report folder (cells under <out>/cells)")
    parser.add_argument("--env-root", type=Path, default=envs.CELLS_ENV_DIR, help="where cell venvs live")
    parser.add_argument("--work-root", type=Path, default=ROOT / ".nox" / "work", help="cells' scratch folders")
    parser.add_argument("--host", action="store_true",
                        help="run cells in this Python instead of building venvs (its torch must match the cell's)")
    parser.add_argument("--no-report", action="store_true", help="stop after the cell results (no report, no gate)")


def run(args: argparse.Namespace) -> int:
    matrix = load_matrix(args.matrix)
    cells = matrix.select(parse_cell_ids(args.cells))
    opts = RunOptions(out_dir=args.out.resolve(), env_root=args.env_root.resolve(), work_root=args.work_root.resolve(),
                      resume=args.resume, host=args.host, report=not args.no_report)
    return run_matrix(matrix, cells, opts)
