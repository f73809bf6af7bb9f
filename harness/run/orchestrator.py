"""`alog-matrix run`: every cell (or --cells) in its own venv and its own process, then report and gate.

For each cell: check disk, build or reuse its venv (harness.envs.venvs), run ``harness.run.cell`` in a
child process (harness.procs.child: its own session, so a timeout kills the whole tree) with the cell's time
limit. A child that dies by a signal is recorded as ``crash`` (the signal's name), one that outlives its
limit as ``timeout``, each with the tail of its output and the checks it finished before dying
(harness.run.records); the other cells go on. One JSON per cell lands in ``<out>/cells`` (written
atomically); then ``harness.report.build`` builds the report, in which ``harness.report.gate`` decides the verdict
once: its exit code is ours.

Without --resume the selected cells' old results are removed first; with --resume a cell's record is
reused only when its evidence key (harness.evidence) equals the one computed now and its kept files are
unchanged, and the reason for each cell is said and recorded. Results of cells not selected stay as they are.
``--jobs N`` runs N cells at once (threads that each follow one child; the children do the work, each
with one intra-op thread), so one cell's venv download overlaps another's checks.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from converter.errors import AlogError, first_line
from harness.config.matrix import Cell, Matrix, load_matrix
from harness.envs import disk
from harness.envs import venvs as envs
from harness.envs.bytecode import bytecode_env
from harness.evidence.keys import EvidenceKey, own_packages, packages_in
from harness.evidence.parts import cell_key
from harness.evidence.reuse import FRESH, Decision, cell_decision
from harness.golden.source import ModelSource
from harness.ground.paths import CHECKOUT_STATE, state_for
from harness.ground.protocol import RunInterrupted
from harness.ground.records import CellResult
from harness.procs import locks
from harness.procs.child import interruptible, run_child, stop_children
from harness.run import cell as cell_runner
from harness.run import records as cell_record
from harness.run.progress import CellProgress, Progress
from harness.runtimes.engine import ENGINE_ENV, ENGINE_ERROR_ENV

CHILD_RESULT = "cell-result.json"  # the child's own file, in the cell's work folder
STAGES = ("all", "golden", "cells", "runtimes")
CELL_MEMORY_GB = 4.0  # a cell's peak (torch, two exports, ONNX Runtime, the parity suite), with room to spare


def default_jobs() -> int:
    """As many cells at once as there are cores, and no more than the available memory holds."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            available_kb = next(int(line.split()[1]) for line in meminfo if line.startswith("MemAvailable:"))
        by_memory = int(available_kb / 1024 ** 2 // CELL_MEMORY_GB)
    except (OSError, StopIteration, ValueError):
        by_memory = cores
    return max(1, min(cores, by_memory))


@dataclass
class RunOptions:
    out_dir: Path = CHECKOUT_STATE.reports
    env_root: Path = CHECKOUT_STATE.cell_envs
    runtime_env_root: Path = CHECKOUT_STATE.runtime_envs
    work_root: Path = CHECKOUT_STATE.work
    engine_root: Path = CHECKOUT_STATE.engine  # the C engine is built here, once per source digest
    pycache: Path = CHECKOUT_STATE.pycache
    resume: bool = False
    jobs: int = 1  # cells at once
    stage: str = "all"  # all | golden | cells | runtimes: one part of the run, as separate CI jobs do it
    host: bool = False  # run the cells in this interpreter instead of building venvs
    build_engine: bool = True
    report: bool = True
    model_dir: Path | None = None  # --model-dir: the team's checkpoints, instead of [model] or a reference
    child_env: dict[str, str] = field(default_factory=dict)  # extra environment for the cell processes

    @property
    def cells_dir(self) -> Path:
        return self.out_dir / "cells"

    @property
    def golden_dir(self) -> Path:
        return self.out_dir / "golden"

    def keep_dir(self, cell: Cell) -> Path:
        return self.out_dir / "artifacts" / cell.id


# --- one cell ----------------------------------------------------------------------------------


def result_path(cells_dir: Path, cell: Cell) -> Path:
    return cells_dir / f"{cell.id}.json"


def is_finished(path: Path) -> bool:
    try:
        return CellResult.read(path).status == "complete"
    except (OSError, ValueError, TypeError, KeyError):
        return False


def clear_results(opts: RunOptions, cell: Cell) -> None:
    out = result_path(opts.cells_dir, cell)
    for stale in (out, out.with_suffix(".log")):
        stale.unlink(missing_ok=True)
    shutil.rmtree(opts.keep_dir(cell), ignore_errors=True)


@dataclass(frozen=True)
class KeyInputs:
    """What every cell's evidence key is computed from besides the cell: the models and the running code."""

    source: ModelSource
    code: str  # the digest of the installed alog-detect (the wheel every venv installs)


def run_one(cell: Cell, matrix: Matrix, opts: RunOptions, progress: CellProgress, inputs: KeyInputs) -> CellResult:
    out = result_path(opts.cells_dir, cell)
    progress.stage("venv")
    cell_runner.inject_test_fault(cell.id, "venv")
    started = time.monotonic()
    if opts.host:
        python, venv_seconds, packages = Path(sys.executable), 0.0, own_packages()
    else:
        try:
            cell_env = envs.ensure_env(cell, opts.env_root, log=lambda line: progress.stage(f"venv: {line[:90]}"))
        except AlogError as exc:
            clear_results(opts, cell)
            result = cell_record.env_failed(cell.id, str(exc), time.monotonic() - started)
            result.write(out)
            return result
        python, venv_seconds, packages = cell_env.python, cell_env.seconds, packages_in(cell_env.site_packages())
        progress.stage(f"venv {'reused' if cell_env.reused else 'built'} in {venv_seconds:.1f} s")
    key = cell_key(matrix, cell, inputs.source, opts.golden_dir, inputs.code, packages)
    decision = cell_decision(out, key, opts.keep_dir(cell)) if opts.resume else Decision(False, FRESH)
    if decision.reused and decision.record is not None:
        decision.record.decision = decision.to_dict()
        decision.record.write(out)
        return decision.record
    progress.note(decision.reason)
    clear_results(opts, cell)
    recorded = _run_child(cell, matrix, opts, progress, python, venv_seconds)
    # The key as measured: the packages the cell saw in its own venv, the rest as computed before it ran.
    recorded.evidence = EvidenceKey({**key.parts, "packages": recorded.packages or packages}).to_dict()
    recorded.decision = decision.to_dict()
    recorded.write(out)
    return recorded


def _run_child(cell: Cell, matrix: Matrix, opts: RunOptions, progress: CellProgress, python: Path,
               venv_seconds: float) -> CellResult:
    """The cell's checks in a child process of ``python``; what it recorded, or how it died."""
    out = result_path(opts.cells_dir, cell)
    work = opts.work_root / cell.id
    holder = locks.held_by_other(work, cell_runner.RUNNER_LOCK)
    if holder:
        raise AlogError(f"a cell runner of an earlier run still works on cell {cell.id} ({holder}): "
                        "stop it before running this cell again")
    child_out = work / CHILD_RESULT
    for stale in (child_out, cell_runner.partial_path(child_out)):
        stale.unlink(missing_ok=True)
    cmd = [str(python), "-m", "harness.cli", "run-cell", "--cell", cell.id, "--matrix", str(matrix.path.resolve()),
           "--out", str(child_out), "--work", str(work), "--golden", str(opts.golden_dir),
           "--keep", str(opts.keep_dir(cell))]
    log_path = out.with_suffix(".log")
    try:
        outcome = run_child(cmd, child_environment(python, opts), log_path, cell.timeout_s, on_stage=progress.stage)
    except RunInterrupted as stop:
        cell_record.interrupted(cell.id, child_out, log_path, str(stop), venv_seconds).write(out)
        stop.cell = cell.id
        raise
    finished = cell_record.completed(child_out, venv_seconds, outcome)
    return finished or cell_record.died(cell.id, cell.timeout_s, child_out, log_path, outcome, venv_seconds)


def child_environment(python: Path, opts: RunOptions) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("VIRTUAL_ENV", None)
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(bytecode_env(env, opts.pycache))  # torch's bytecode compiled once, not in every cell process
    env.setdefault("OMP_NUM_THREADS", "1")  # see cell_runner._one_thread
    env.update(opts.child_env)
    return env


def summary_line(result: CellResult) -> str:
    parts = result.counts_line()
    if result.decision.get("reused"):
        return f"{result.decision['reason']} ({parts})"
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
    progress.message(f"building the C engine (make, in {opts.engine_root})")
    try:
        from harness.runtimes import engine as cengine

        opts.child_env[ENGINE_ENV] = str(cengine.ensure_built(build_root=opts.engine_root))
    except Exception as exc:  # noqa: BLE001 - the cells record it in their cengine check
        message = first_line(exc)
        progress.message(f"C engine build failed: {message}")
        opts.child_env[ENGINE_ERROR_ENV] = message


def run_matrix(matrix: Matrix, cells: tuple[Cell, ...], opts: RunOptions) -> int:
    """Every cell, then the report and the gate. What can be checked without writing is checked first (the
    cells' requirements exist, the disk has room); then the folders the run writes are locked against
    another run, and SIGTERM / SIGINT stop the cell in progress, recorded as interrupted."""
    from harness.golden import source as golden_source

    to_run = () if opts.stage in ("golden", "runtimes") else cells
    # The cells likely to run, for the checks made before anything is written (each cell's key decides later).
    likely = tuple(c for c in to_run if not (opts.resume and is_finished(result_path(opts.cells_dir, c))))
    models = golden_source.resolve(matrix, opts.model_dir)
    checked = golden_source.check(models)  # a team's files and hub folders: before anything
    if not opts.host:
        envs.require_installable(likely, opts.env_root)
        disk.require_space(likely, matrix, opts.env_root)
    if opts.stage in ("all", "runtimes"):
        envs.require_installable(matrix.runtimes, opts.runtime_env_root)
    with contextlib.ExitStack() as held, interruptible():
        held.enter_context(locks.hold(opts.out_dir, "the report folder"))
        held.enter_context(locks.hold(opts.work_root, "the work folder"))
        if not opts.host:
            held.enter_context(locks.hold(opts.env_root, "the venv folder"))
        if matrix.runtimes:
            held.enter_context(locks.hold(opts.runtime_env_root, "the runtime venv folder"))
        return _run_locked(matrix, cells, to_run, opts, models, checked)


def _run_locked(matrix: Matrix, cells: tuple[Cell, ...], to_run: tuple[Cell, ...], opts: RunOptions,
                models, checked) -> int:
    from harness.golden import build as golden_build

    opts.cells_dir.mkdir(parents=True, exist_ok=True)
    progress = Progress(len(cells))
    started = time.monotonic()
    runtimes = matrix.runtimes if opts.stage in ("all", "runtimes") else ()
    try:
        if opts.stage != "runtimes":
            progress.message(f"golden data: {models.origin}")
            golden = golden_build.prepare(matrix, models, opts.golden_dir, reuse=opts.resume, checked=checked)
            progress.message(f"golden data in {golden.folder} ({', '.join(golden.models)}, "
                             f"{time.monotonic() - started:.0f} s)")
            for model, why in golden.manifest.get("not_given", {}).items():
                progress.message(f"not judged: {model} ({why})")
            for model, entry in golden.manifest["models"].items():
                if "error" in entry:
                    progress.message(f"golden data: {model} could not be built here ({entry['error']}); each cell "
                                     "tries it in its own torch")
        if opts.stage == "golden":
            return 0
        if to_run or runtimes:
            build_engine_once(opts, progress)
        if opts.stage != "runtimes":
            views = {cell.id: progress.cell(index, cell.id) for index, cell in enumerate(cells, start=1)}
            inputs = KeyInputs(models, envs.project_wheel(opts.env_root, write=False).digest)
            results = run_cells(to_run, matrix, opts, views, inputs)
            reused = sum(1 for r in results if r.decision.get("reused"))
            print(f"alog-matrix: {len(results) - reused} cell(s) run, {reused} reused, in "
                  f"{time.monotonic() - started:.0f} s; results in {opts.cells_dir}", file=sys.stderr)
    finally:
        progress.close()
    if runtimes:
        from harness.runtimes.stage import run_stage

        started = time.monotonic()
        run_stage(matrix, opts.out_dir, opts.runtime_env_root, lambda python: child_environment(python, opts),
                  Path(opts.child_env[ENGINE_ENV]) if ENGINE_ENV in opts.child_env else None,
                  opts.resume, lambda line: print(line, file=sys.stderr, flush=True), opts.jobs)
        print(f"alog-matrix: runtime stage in {time.monotonic() - started:.0f} s", file=sys.stderr)
    if not opts.report:
        return 0
    return report_and_gate(matrix, opts)


def run_cells(cells: tuple[Cell, ...], matrix: Matrix, opts: RunOptions, views: dict[str, CellProgress],
              inputs: KeyInputs) -> list[CellResult]:
    """Each cell through ``run_one``, ``opts.jobs`` at once; their records, in ``cells`` order. Interrupted, the
    running cells stop their children and record themselves as interrupted, the queued ones never start; a
    cell's error is raised once the others have finished."""
    if opts.jobs <= 1 or len(cells) <= 1:
        results = []
        for cell in cells:
            results.append(run_one(cell, matrix, opts, views[cell.id], inputs))
            views[cell.id].done(summary_line(results[-1]))
        return results
    with ThreadPoolExecutor(max_workers=opts.jobs, thread_name_prefix="cell") as pool:
        futures = {pool.submit(run_one, cell, matrix, opts, views[cell.id], inputs): cell for cell in cells}
        try:
            _follow_cells(futures, views)
        except RunInterrupted as stop:
            stop_children(stop.signum)
            for future in futures:
                future.cancel()
            stopped = []
            for future, cell in futures.items():
                if not future.cancelled() and isinstance(future.exception(), RunInterrupted):
                    stopped.append(cell.id)
            stop.cell = ", ".join(stopped) or None
            raise
        return [future.result() for future in futures]


def _follow_cells(futures: dict[Future, Cell], views: dict[str, CellProgress]) -> None:
    pending, failure = set(futures), None
    while pending:
        done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)  # signals land between waits
        for future in done:
            error = future.exception()
            if error is None:
                views[futures[future].id].done(summary_line(future.result()))
            elif failure is None:
                failure = error
    if failure is not None:
        raise failure


def report_and_gate(matrix: Matrix, opts: RunOptions) -> int:
    """harness.report.build builds the report, in which harness.report.gate decides once; its exit code is ours."""
    from harness.report import build as report

    built = report.build_report(opts.cells_dir, matrix, opts.out_dir, record_history=True)
    for message in built.verdict.messages:
        print(f"  {message}")
    print(built.verdict.line)
    return built.verdict.exit_code


# --- CLI -------------------------------------------------------------------------------------------


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of cells, at least 1 (got {text!r})")
    return int(text)


def parse_cell_ids(values: list[str] | None) -> list[str]:
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--matrix", type=Path, default=None,
                        help="the matrix file (default: gate.toml, else matrix.toml, in the current folder)")
    parser.add_argument("--state-dir", type=Path, default=None, metavar="DIR",
                        help="venvs, scratch, the built engine (default: .alog-matrix beside the matrix file; the "
                        "checkout's own matrix.toml: .nox)")
    parser.add_argument("--cells", action="append", metavar="ID[,ID]", help="run only these cells")
    parser.add_argument("--resume", action="store_true", help="keep finished cell results and run only the rest")
    parser.add_argument("--jobs", type=_positive, default=None, metavar="N",
                        help="cells at once (default: the cores, as far as the available memory holds: "
                        f"{CELL_MEMORY_GB:g} GB a cell)")
    parser.add_argument("--out", type=Path, default=None,
                        help="report folder, cells under <out>/cells (default: reports beside the matrix file)")
    parser.add_argument("--env-root", type=Path, default=None, help="where cell venvs live (default: <state>/cells)")
    parser.add_argument("--work-root", type=Path, default=None, help="cells' scratch folders (default: <state>/work)")
    parser.add_argument("--host", action="store_true",
                        help="run cells in this Python instead of building venvs (its torch must match the cell's)")
    parser.add_argument("--no-report", action="store_true", help="stop after the cell results (no report, no gate)")
    parser.add_argument("--stage", choices=STAGES, default="all",
                        help="one part of the run: golden (the golden data only), cells (golden data, reused with "
                        "--resume, and the cells), runtimes (the runtime stage on the kept artifacts, then report "
                        "and gate); default: all of it")
    parser.add_argument("--model-dir", type=Path, default=None, metavar="DIR",
                        help="export these checkpoints in every cell: DIR/deeplog.pth, DIR/vocab.json, DIR/mscred.pth "
                        "(either model may be absent), with [model] log of the matrix or DIR's only *.log")


def run(args: argparse.Namespace) -> int:
    matrix = load_matrix(args.matrix)
    cells = matrix.select(parse_cell_ids(args.cells))
    state = state_for(matrix.path, args.state_dir, args.out)
    opts = RunOptions(out_dir=state.reports, env_root=(args.env_root or state.cell_envs).resolve(),
                      runtime_env_root=state.runtime_envs, work_root=(args.work_root or state.work).resolve(),
                      engine_root=state.engine, pycache=state.pycache,
                      resume=args.resume, jobs=args.jobs or default_jobs(), stage=args.stage, host=args.host,
                      report=not args.no_report, model_dir=args.model_dir)
    return run_matrix(matrix, cells, opts)
