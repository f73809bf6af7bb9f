"""The runtime stage, after the cells: the kept artifacts described once (the advisory onnx_checker record),
then each [[runtime]] in its own venv and its own process, isolated like the cells: a runner that crashes
on an artifact is recorded as ``crash`` there and restarted after it; one that hangs is stopped at the
runtime's time limit. One result file per runtime lands in ``<out>/runtimes``; with --resume a runtime
whose result is complete is kept."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from converter import atomic
from converter.errors import AlogError, describe
from harness.config.matrix import Matrix, Runtime
from harness.envs import venvs as envs
from harness.evidence.keys import packages_in
from harness.evidence.parts import artifact_key, artifact_part, runtime_base
from harness.evidence.reuse import runtime_plan
from harness.ground.names import ENGINES, count_statuses
from harness.ground.protocol import RunInterrupted, now, partial_path
from harness.ground.records import RuntimeOutcome, RuntimeResult
from harness.procs.child import output_tail, run_child, stop_children
from harness.runtimes import catalog
from harness.runtimes.runner import read_partial

ARTIFACTS_FILE = "artifacts.json"
MAX_RESTARTS = 20  # a runner that crashes on more artifacts than this is stopped: the runtime is broken


def describe_artifacts(judged: list[catalog.KeptArtifact], parts: dict[str, dict], runtimes_dir: Path) -> list[dict]:
    """Every judged artifact's IR version, opsets, producer and onnx_checker verdict (runtimes/artifacts.json);
    a description whose files have not changed since (``parts``: their digests) is kept as it was."""
    earlier = {}
    with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):
        earlier = {a["key"]: a for a in json.loads((runtimes_dir / ARTIFACTS_FILE).read_text(encoding="utf-8"))
                   if not a.get("unreadable")}
    described = []
    for artifact in judged:
        part, before = parts[artifact.key], earlier.get(artifact.key)
        cases = [part["golden"], part["torch"]]
        if before is not None and before.get("sha256") == part["onnx"] and before.get("cases") == cases:
            described.append(before)
        else:
            described.append({**catalog.describe(artifact), "cases": cases})
    atomic.write_json(runtimes_dir / ARTIFACTS_FILE, described)
    return described


def _crashed(runtime: Runtime, key: str, how: str) -> list[RuntimeOutcome]:
    """The outcomes of an artifact the runner died on: every level and engine, as a crash."""
    cell, strategy, model = key.split("/")
    outcomes = []
    for level in runtime.levels:
        for engine in ENGINES:
            expected = runtime.expected(cell, strategy, model, level, engine)
            outcomes.append(RuntimeOutcome(key, level, engine, "crash", error=how,
                                           expected=expected.outcome if expected else "pass",
                                           reason=expected.reason if expected else None))
    return outcomes


def _whole(out: Path) -> RuntimeResult | None:
    """The runner's finished result file, if it wrote one whole."""
    try:
        result = RuntimeResult.read(out)
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return result if result.status == "complete" else None


def run_runtime(runtime: Runtime, matrix: Matrix, python: Path, env: dict[str, str], artifacts_dir: Path,
                out: Path, log_path: Path, engine: Path | None, on_stage: Callable[[str], None],
                reused: list[str] | None = None) -> RuntimeResult:
    """One runtime's runner on every artifact but ``reused``, restarted after each artifact it crashes on,
    until it finishes."""
    partial_path(out).unlink(missing_ok=True)
    out.unlink(missing_ok=True)
    skip: list[str] = list(reused or ())
    crashes: list[RuntimeOutcome] = []
    started = time.monotonic()
    while True:
        cmd = [str(python), "-m", "harness.runtimes", "--runtime", runtime.id, "--matrix",
               str(matrix.path.resolve()), "--artifacts", str(artifacts_dir), "--out", str(out)]
        cmd += ["--engine", str(engine)] if engine else []
        cmd += ["--described", str(out.parent / ARTIFACTS_FILE)]  # the runner reads it if it is there
        cmd += [arg for key in skip for arg in ("--skip", key)]
        left = runtime.timeout_s - (time.monotonic() - started)
        outcome = run_child(cmd, env, log_path, max(left, 1.0), on_stage=on_stage)
        if outcome.clean and out.is_file():
            result = RuntimeResult.read(out)
            break
        how = ("timeout" if outcome.timed_out else f"exit code {outcome.returncode}" if (outcome.returncode or 0) > 0
               else f"signal {-(outcome.returncode or 0)}")
        written = _whole(out)
        if written is not None:  # every outcome saved, then the runner died (at exit): a crash, outcomes kept
            result = written
            result.status = "crash"
            result.output_tail = f"the runtime's runner died ({how}) after writing its whole result\n" \
                                 f"{output_tail(log_path)}"
            break
        saved, current = read_partial(out) if partial_path(out).is_file() else (None, None)
        restarts = len(skip) - len(reused or ())
        if current is None or outcome.timed_out or restarts >= MAX_RESTARTS or (outcome.returncode or 0) > 0:
            result = saved or RuntimeResult(runtime.id, "error", started=now())
            result.status = "timeout" if outcome.timed_out else "crash" if (outcome.returncode or 0) < 0 else "error"
            result.output_tail = f"the runtime's runner stopped ({how})\n{output_tail(log_path)}"
            result.finished = now()
            if current is not None:
                crashes += _crashed(runtime, current, f"the runner died ({how}) on this artifact")
            break
        crashes += _crashed(runtime, current, f"the runner died ({how}) on this artifact")
        skip.append(current)
    result.outcomes += crashes
    result.stages["runner"] = round(time.monotonic() - started, 3)
    result.write(out)
    partial_path(out).unlink(missing_ok=True)
    return result


@dataclass(frozen=True)
class KeptSet:
    """What every runtime of the stage runs on: each judged artifact's key part (``artifact_part``), the keys of
    the artifacts it skips (cells or models matrix.toml no longer has), and the running code's digest."""

    parts: dict[str, dict]
    foreign: list[str]
    code: str


def run_stage(matrix: Matrix, out_dir: Path, env_root: Path, child_env: Callable[[Path], dict[str, str]],
              engine: Path | None, resume: bool, message: Callable[[str], None], jobs: int = 1) -> list[RuntimeResult]:
    """Every runtime of the matrix on every kept artifact, ``jobs`` runtimes at once; the result files land in
    ``out_dir/runtimes``, the results come back in matrix order."""
    runtimes_dir = out_dir / "runtimes"
    runtimes_dir.mkdir(parents=True, exist_ok=True)
    judged, foreign = catalog.split_artifacts(matrix, out_dir / "artifacts")
    # Each judged artifact's files hashed once, for its description and every runtime's keys.
    kept = KeptSet({a.key: artifact_part(a.onnx, a.golden, a.torch_outputs) for a in judged}, foreign,
                   envs.project_wheel(env_root, write=False).digest)
    described = describe_artifacts(judged, kept.parts, runtimes_dir)
    message(f"runtimes: {len(described)} kept artifacts x {len(matrix.runtimes)} runtimes")
    total = len(matrix.runtimes)

    def one(index: int, runtime: Runtime) -> RuntimeResult:
        return _run_one(f"runtime {index}/{total} {runtime.id}", runtime, matrix, out_dir, env_root, child_env,
                        engine, resume, message, kept)

    if jobs <= 1 or total <= 1:
        return [one(index, runtime) for index, runtime in enumerate(matrix.runtimes, start=1)]
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="runtime") as pool:
        futures = [pool.submit(one, index, runtime) for index, runtime in enumerate(matrix.runtimes, start=1)]
        try:
            return [future.result() for future in futures]
        except RunInterrupted as stop:
            stop_children(stop.signum)  # the other runners stop at their next poll
            for future in futures:
                future.cancel()
            raise


def _run_one(name: str, runtime: Runtime, matrix: Matrix, out_dir: Path, env_root: Path,
             child_env: Callable[[Path], dict[str, str]], engine: Path | None, resume: bool,
             message: Callable[[str], None], kept: KeptSet) -> RuntimeResult:
    out = out_dir / "runtimes" / f"{runtime.id}.json"
    started = time.monotonic()
    try:
        venv = envs.ensure_env(runtime, env_root, log=lambda line: message(f"{name}: {line[:90]}"))
    except AlogError as exc:
        result = RuntimeResult(runtime.id, "error", started=now(), finished=now(),
                               output_tail=f"building the runtime's venv failed: {exc}")
        result.write(out)
        return result
    base = runtime_base(runtime, packages_in(venv.site_packages()), engine, kept.code, matrix.tolerance)
    keys = {key: artifact_key(base, part) for key, part in kept.parts.items()}
    plan = runtime_plan(out, keys, resume)
    if not plan.runs and plan.kept is not None:
        plan.kept.decision = plan.decision()
        plan.kept.write(out)
        message(f"{name}: {plan.summary()}")
        return plan.kept
    skip = [*plan.reused, *kept.foreign]
    result = run_runtime(runtime, matrix, venv.python, child_env(venv.python), out_dir / "artifacts", out,
                         out.with_suffix(".log"), engine, lambda stage: None, skip)
    result.stages["venv"] = round(venv.seconds, 3)
    localize_failures(result, matrix, out_dir, env_root, engine, venv.path)
    if plan.kept is not None:  # the outcomes of the artifacts whose keys did not move, as they were measured
        result.outcomes += [o for o in plan.kept.outcomes if o.artifact in plan.reused]
    result.evidence = {key: value.to_dict() for key, value in keys.items()}
    result.decision = plan.decision()
    result.write(out)
    statuses = count_statuses(o.status for o in result.outcomes)
    message(f"{name}: {result.status} ({', '.join(f'{n} {s}' for s, n in sorted(statuses.items()))}) "
            f"in {time.monotonic() - started:.0f} s; {plan.summary()}")
    return result


def localize_failures(result: RuntimeResult, matrix: Matrix, out_dir: Path, env_root: Path,
                      engine: Path | None = None, venv: Path | None = None) -> None:
    """The first failing case of each failing (artifact, level) in Python, localized with this runtime's own
    values; divergence.json, the case's input and the issue-ready repro/ land in
    runtimes/repro/<runtime>/<cell>-<strategy>-<model>-<level>. A failure of the C engine alone (Python passed
    there) gets the engine's bundle instead (``venv``: the runtime's, whose library the engine ran on)."""
    import numpy as np

    from harness.golden.store import Golden
    from harness.localize.diagnose import localize, localize_command, unavailable, write
    from harness.localize.remote import values_in_runtime
    from harness.localize.repro import FOLDER, write_repro

    failing = [o for o in result.outcomes
               if o.status == "fail" and o.engine == "python" and o.figures.get("failed_case")]
    passed = {(o.artifact, o.level) for o in result.outcomes if o.engine == "python" and o.status == "pass"}
    engine_only = [o for o in result.outcomes if o.status == "fail" and o.engine == "c"
                   and (o.artifact, o.level) in passed and o.figures.get("failed_case")]
    if engine_only and engine is not None and venv is not None:
        _engine_bundles(engine_only, result.runtime_id, out_dir, engine, venv)
    if not failing:
        return
    golden = Golden.load(out_dir / "golden")
    started = time.monotonic()
    for outcome in failing:
        cell, strategy, model = outcome.artifact.split("/")
        onnx_path = out_dir / "artifacts" / cell / strategy / f"{model}.onnx"
        artifact = catalog.KeptArtifact(cell, strategy, model, onnx_path)
        with np.load(artifact.golden) as data:
            x = data[f"in_{outcome.figures['failed_case']}"]
        folder = out_dir / "runtimes" / "repro" / result.runtime_id / f"{cell}-{strategy}-{model}-{outcome.level}"
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "input.npy", x)
        try:
            values = values_in_runtime(matrix, result.runtime_id, artifact.onnx, x, outcome.level, env_root)
            hub, kind = matrix.torch_side(model)
            report = localize(artifact.onnx, x, golden.checkpoint(model), kind, outcome.level,
                              matrix.tolerance, level_values=values, hub=hub)
            report["command"] = localize_command(artifact.onnx, folder / "input.npy", golden.checkpoint(model),
                                               outcome.level, folder, result.runtime_id, matrix.path, hub=hub)
            write(report, folder)
            outcome.divergence = report["lines"][0]
        except Exception as exc:  # noqa: BLE001 - see unavailable
            outcome.divergence = unavailable(exc)
            continue
        try:  # repro.py is checked in the runtime's own venv, where the numbers diverged
            with np.load(artifact.golden) as data:
                expected = data[f"out_{outcome.figures['failed_case']}"]
            python = envs.ensure_env(matrix.runtime(result.runtime_id), env_root).python
            write_repro(folder / FOLDER, artifact.onnx, x, report, tolerance=matrix.tolerance,
                        command=report["command"], checkpoint=golden.checkpoint(model), kind=kind, hub=hub,
                        expected=expected, python=python, runtime=result.runtime_id)
        except Exception as exc:  # noqa: BLE001 - the bundle is extra: its failure is said, the divergence stays
            outcome.divergence = f"{report['lines'][0]} (no repro/ bundle: {describe(exc)})"
    result.stages["localize"] = round(time.monotonic() - started, 3)
    result.write(out_dir / "runtimes" / f"{result.runtime_id}.json")


def _engine_bundles(outcomes: list[RuntimeOutcome], runtime_id: str, out_dir: Path, engine: Path, venv: Path) -> None:
    """The C engine's own bundles: the failing case, the outputs Python gave within tolerance (the golden
    ones), and the engine command that differs, on the runtime's libonnxruntime."""
    import numpy as np

    from harness.localize.repro import FOLDER, write_engine_bundle

    libraries = sorted(venv.glob("lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.*"),
                       key=lambda p: len(p.name))  # the fully versioned file, not a soname link
    for outcome in outcomes:
        cell, strategy, model = outcome.artifact.split("/")
        onnx_path = out_dir / "artifacts" / cell / strategy / f"{model}.onnx"
        artifact = catalog.KeptArtifact(cell, strategy, model, onnx_path)
        case = outcome.figures["failed_case"]
        with np.load(artifact.golden) as data:
            x, expected = data[f"in_{case}"], data[f"out_{case}"]
        folder = out_dir / "runtimes" / "repro" / runtime_id / f"{cell}-{strategy}-{model}-{outcome.level}-c"
        words = [str(engine), "--model", "model.onnx", "--input", "input.npy", "--output", "engine_output.npy",
                 "--opt-level", outcome.level] + (["--ort-lib", str(libraries[-1])] if libraries else [])
        try:
            write_engine_bundle(folder / FOLDER, artifact.onnx, x, expected, words,
                                outcome.error or "the C engine differs", runtime=runtime_id,
                                command=f"alog-matrix run --stage runtimes (runtime {runtime_id}, case {case})")
            outcome.divergence = f"the C engine alone differs (alog-detect's own bug): {folder / FOLDER}"
        except Exception as exc:  # noqa: BLE001 - the bundle is extra: its failure is said, the failure stays
            outcome.divergence = f"the C engine alone differs (alog-detect's own bug); no bundle: {describe(exc)}"
