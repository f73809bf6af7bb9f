"""``python -m harness.runtimes.runner``: one runtime's work, in that runtime's own venv (onnxruntime and
numpy only, no torch).

Every kept artifact, at every level of the runtime, through ONNX Runtime's Python API and through the C
engine on this venv's libonnxruntime: the golden inputs run and are compared with the golden outputs and
with what the artifact's own cell's PyTorch gave. Files with the same bytes are run once. After every
artifact the result so far is saved (``<out>.partial``), with the item in progress, so that a runtime
that crashes on one artifact is recorded there by the parent and the runner restarted after it.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Any

from converter import atomic, metafile
from converter.compare import Tolerance, compare
from converter.errors import AlogError, describe
from harness.config.matrix import Runtime
from harness.ground.names import ENGINES
from harness.ground.protocol import partial_path
from harness.ground.records import RuntimeOutcome, RuntimeResult
from harness.runtimes.catalog import KeptArtifact, discover

ENGINE_PARITY_TOLERANCE = 1e-6  # the C engine and Python ONNX Runtime on the same library: the same numbers
LATENCY_BATCHES = (1, 256)
LATENCY_REPEATS = {1: 7, 256: 3}
SESSION_REPEATS = 3


def read_partial(out: Path) -> tuple[RuntimeResult, str | None]:
    """The progress a runner saved, and the artifact it was on (None when it was between artifacts)."""
    data = json.loads(partial_path(out).read_text(encoding="utf-8"))
    current = data.pop("current", None)
    return RuntimeResult.from_dict(data), current


def _load(path: Path, prefix: str) -> dict[str, Any]:
    import numpy as np

    with np.load(path) as data:
        return {k[len(prefix):]: data[k] for k in data.files if k.startswith(prefix)}


def _names(artifact: KeptArtifact) -> tuple[str, str]:
    meta = metafile.load(artifact.onnx.with_name(artifact.onnx.name + ".meta.json"))
    return meta["input_name"], meta["output_name"]


def _judge(outputs: dict[str, Any], golden: dict[str, Any], torch_out: dict[str, Any], tolerance: Tolerance,
           engine: str, level: str) -> tuple[str, str | None, dict[str, Any]]:
    """pass / fail against the golden outputs, with the figures against them and against the cell's torch."""
    vs_golden = [compare(golden[name], out, tolerance, name) for name, out in outputs.items()]
    vs_torch = [compare(torch_out[name], out, tolerance, name) for name, out in outputs.items() if name in torch_out]
    figures: dict[str, Any] = {
        "cases": len(vs_golden), "max_abs_error": max((c.max_abs_error for c in vs_golden), default=None),
        "max_rel_error": max((c.max_rel_error for c in vs_golden), default=None),
        "torch_max_abs_error": max((c.max_abs_error for c in vs_torch), default=None),
        "failed": sum(1 for c in vs_golden if not c)}
    bad = [c for c in vs_golden if not c]
    error = f"{engine} at {level}: {len(bad)} of {len(vs_golden)} cases differ: {bad[0].describe()}" if bad else None
    if bad:
        figures["failed_case"] = bad[0].name
    return ("fail" if bad else "pass"), error, figures


def python_run(artifact: KeptArtifact, level: str, cases: dict[str, Any]):
    """(status, error, outputs): incompatible when the runtime refuses to load the model, error when it fails
    to run it; the runtime's message is kept as it said it."""
    from converter.ortsession import ort_session

    input_name, output_name = _names(artifact)
    try:
        session = ort_session(artifact.onnx, opt_level=level)
    except Exception as exc:  # noqa: BLE001 - the refusal is the finding, kept verbatim
        return "incompatible", str(exc).strip(), {}
    try:
        return None, None, {name: session.run([output_name], {input_name: x})[0] for name, x in cases.items()}
    except Exception as exc:  # noqa: BLE001
        return "error", str(exc).strip(), {}


def engine_run(artifact: KeptArtifact, level: str, cases: dict[str, Any], binary: Path, ort_lib: Path):
    """The C engine's parity mode on every case in one run (one session), on this runtime's library, at ``level``."""
    import numpy as np

    from harness.runtimes import engine as cengine

    outputs = {}
    with tempfile.TemporaryDirectory(prefix="runtime-engine-") as tmp:
        pairs = []
        for index, (name, x) in enumerate(cases.items()):
            source, target = Path(tmp) / f"in{index}.npy", Path(tmp) / f"out{index}.npy"
            np.save(source, x)
            pairs.append((name, source, target))
        args = ["--model", str(artifact.onnx), "--opt-level", level]
        for _, source, target in pairs:
            args += ["--input", str(source), "--output", str(target)]
        try:
            cengine.run_engine(args, ort_lib, binary)
        except cengine.EngineError as exc:
            return engine_refusal(exc), str(exc), {}
        for name, _, target in pairs:
            outputs[name] = np.load(target)
    return None, None, outputs


def engine_refusal(exc) -> str:
    """An engine failure as an outcome: the library refused (too old for the engine's C API, exit 4) or the
    model refused by ONNX Runtime ("cannot load model", exit 3) is incompatible; a signal is a crash."""
    from harness.runtimes import engine as cengine

    if (exc.returncode or 0) < 0:
        return "crash"
    if exc.returncode == cengine.EXIT_RUNTIME or "cannot load model" in str(exc):
        return "incompatible"
    return "error"


def latency(artifact: KeptArtifact, level: str, example: Any) -> dict[str, float]:
    """Session creation (ms) and Run (µs) at batch 1 and 256: medians, one intra-op thread."""
    import numpy as np

    from converter.ortsession import ort_session

    input_name, output_name = _names(artifact)
    created = []
    session = None
    for _ in range(SESSION_REPEATS):
        started = time.perf_counter()
        session = ort_session(artifact.onnx, opt_level=level)
        created.append((time.perf_counter() - started) * 1e3)
    figures = {"session_ms": round(median(created), 3)}
    for batch in LATENCY_BATCHES:
        x = np.resize(example, (batch, *example.shape[1:])).astype(example.dtype)
        runs = []
        for _ in range(LATENCY_REPEATS[batch]):
            started = time.perf_counter()
            session.run([output_name], {input_name: x})  # type: ignore[union-attr]
            runs.append((time.perf_counter() - started) * 1e6)
        figures[f"run_us_b{batch}"] = round(median(runs), 1)
    return figures


@dataclass
class Ran:
    """What this runtime gave on one graph, once: per (level, engine) the status (None: it ran), the runtime's
    message, the outputs and the seconds; the latency at level "all"; ``key``: the artifact it was run as."""

    key: str
    sha256: str
    runs: dict[tuple[str, str], tuple[str | None, str | None, dict[str, Any], float]] = field(default_factory=dict)
    latency: dict[str, float] = field(default_factory=dict)


def execute(artifact: KeptArtifact, sha256: str, runtime: Runtime, cases: dict[str, Any], binary: Path | None,
            ort_lib: Path | str | None) -> Ran:
    """The golden inputs through Python ONNX Runtime and the C engine at every level (``sha256``: the file's, read
    once by the caller). ``ort_lib``: this venv's libonnxruntime for the C engine, or (a string) why the engine
    cannot use it."""
    ran = Ran(artifact.key, sha256)
    for level in runtime.levels:
        started = time.perf_counter()
        status, error, python_out = python_run(artifact, level, cases)
        ran.runs[level, "python"] = (status, error, python_out, time.perf_counter() - started)
        if level == "all" and python_out:
            ran.latency = latency(artifact, level, next(iter(cases.values())))
        if binary is None or ort_lib is None:
            continue
        started = time.perf_counter()
        if isinstance(ort_lib, str):
            engine: tuple[str | None, str | None, dict[str, Any]] = ("incompatible", ort_lib, {})
        else:
            engine = engine_run(artifact, level, cases, binary, ort_lib)
        ran.runs[level, "c"] = (*engine, time.perf_counter() - started)
    return ran


def same_graph(artifact: KeptArtifact, ran: Ran, cases: dict[str, Any]) -> bool:
    """Whether ``artifact`` (whose graph differs from the one ``ran`` was run as only in its producer fields, which
    ONNX Runtime does not execute) gives what it gave: the same load outcome and, on the smallest golden case,
    the same outputs bit for bit."""
    import numpy as np

    level = next(iter(ran.runs))[0]
    status, _, outputs, _ = ran.runs[level, "python"]
    smallest = min(cases, key=lambda name: cases[name].size)
    check_status, _, check = python_run(artifact, level, {smallest: cases[smallest]})
    if check_status != status:
        return False
    return status is not None or np.array_equal(check[smallest], outputs[smallest])


def judged(artifact: KeptArtifact, ran: Ran, runtime: Runtime, tolerance: Tolerance,
           golden: dict[str, Any], torch_out: dict[str, Any]) -> list[RuntimeOutcome]:
    """Every (level, engine) outcome of ``artifact`` from what the runtime gave: against the golden outputs,
    against this artifact's own cell's PyTorch, and the C engine against Python."""
    results = []
    for (level, engine), (status, error, outputs, seconds) in ran.runs.items():
        figures: dict[str, Any] = {}
        if status is None:
            status, error, figures = _judge(outputs, golden, torch_out, tolerance, engine, level)
            python_out = ran.runs[level, "python"][2] if engine == "c" else {}
            if python_out:
                same = [compare(python_out[n], outputs[n], Tolerance(ENGINE_PARITY_TOLERANCE, 0.0), n) for n in outputs]
                figures["python_max_abs_error"] = max(c.max_abs_error for c in same)
                if not all(same):
                    status = "fail"
                    figures.setdefault("failed_case", next(c for c in same if not c).name)  # for its bundle
                    error = ("the C engine and Python ONNX Runtime differ beyond 1e-6: "
                             f"{next(c for c in same if not c).describe()}")
        if ran.key != artifact.key:
            figures["ran_as"] = ran.key  # the same graph, run once under that key
        outcome = RuntimeOutcome(artifact.key, level, engine, status, error=error, figures=figures,
                                 seconds=round(seconds, 3))
        if level == "all" and engine == "python":
            outcome.latency = dict(ran.latency)
        expected = runtime.expected(artifact.cell, artifact.strategy, artifact.model, level, engine)
        if expected is not None:
            outcome.expected, outcome.reason = expected.outcome, expected.reason
        results.append(outcome)
    return results


def graph_digests(described: Path | None) -> dict[str, str]:
    """Each artifact's graph digest (its bytes but the producer fields) from the stage's artifacts.json."""
    if described is None or not described.is_file():
        return {}
    return {a["key"]: a["graph_sha256"] for a in json.loads(described.read_text(encoding="utf-8"))
            if a.get("graph_sha256")}


def run(runtime: Runtime, artifacts_dir: Path, out: Path, tolerance: Tolerance, binary: Path | None,
        skip: set[str], described: Path | None = None) -> RuntimeResult:
    """Every artifact not in ``skip`` (keys done or crashed on before); progress saved after each. A graph that
    an earlier artifact had (the same bytes, or the same but for the producer fields) is run once and each
    artifact judged against its own cell's PyTorch."""
    import numpy
    import onnxruntime

    from harness.ground.protocol import inject_test_fault, now
    from harness.runtimes import engine as cengine

    result = RuntimeResult(runtime.id, "error", started=now(),
                           environment={"onnxruntime": onnxruntime.__version__, "numpy": numpy.__version__,
                                        "python": sys.version.split()[0]})
    if partial_path(out).is_file():  # a restart after a crash: keep what was done
        result.outcomes = read_partial(out)[0].outcomes
    ort_lib: Path | str | None = None
    if binary is not None:
        try:
            ort_lib = cengine.default_ort_lib()
        except AlogError as exc:  # e.g. a wheel whose library is linked into its Python module only
            ort_lib = f"the C engine cannot run on this runtime: {exc}"
    graphs = graph_digests(described)
    by_graph: dict[str, Ran] = {}
    for artifact in discover(artifacts_dir):
        if artifact.key in skip or any(o.artifact == artifact.key for o in result.outcomes):
            continue
        atomic.write_json(partial_path(out), {**result.to_dict(), "current": artifact.key})
        inject_test_fault(runtime.id, artifact.key)
        kept = artifact.golden
        try:
            cases, golden = _load(kept, "in_"), _load(kept, "out_")
            kept = artifact.torch_outputs
            torch_out = _load(kept, "out_") if kept.is_file() else {}
        except Exception as exc:  # noqa: BLE001 - a corrupt kept file: its artifact says so, the others still run
            why = f"{kept} cannot be read ({describe(exc)})"
            engines = ENGINES if binary is not None and ort_lib is not None else ("python",)  # as execute runs them
            broken = Ran(artifact.key, "", {(level, engine): ("error", why, {}, 0.0)
                                            for level in runtime.levels for engine in engines})
            result.outcomes += judged(artifact, broken, runtime, tolerance, {}, {})
            continue
        sha256 = artifact.sha256()
        digest = graphs.get(artifact.key) or sha256
        ran = by_graph.get(digest)
        if ran is None or (ran.sha256 != sha256 and not same_graph(artifact, ran, cases)):
            ran = by_graph[digest] = execute(artifact, sha256, runtime, cases, binary, ort_lib)
        result.outcomes += judged(artifact, ran, runtime, tolerance, golden, torch_out)
    result.status, result.finished = "complete", now()
    atomic.write_json(out, result.to_dict())
    partial_path(out).unlink(missing_ok=True)
    inject_test_fault(runtime.id, "written")
    return result
