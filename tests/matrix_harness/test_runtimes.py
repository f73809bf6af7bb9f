"""The runtime stage on real artifacts: artifacts a real cell context kept (a reference DeepLog and MSCRED,
exported with legacy and dynamo), one of them with its IR version raised past what ONNX Runtime 1.21
reads, loaded in a real runtime venv (onnxruntime 1.21.1) through Python and the C engine, at every level;
a runner crash on one artifact; and the gate's deploy rule over those results."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import onnx
import pytest

from harness.envs import venvs as envs
from harness.checks import golden_parity as golden_checks
from harness.checks.context import CellContext, ModelContext, Stages
from harness.golden import build, source
from harness.config.matrix import load_matrix
from harness.run.orchestrator import RunOptions, child_environment
from harness.report.build import build_report
from harness.ground.records import CellResult, RuntimeResult
from harness.runtimes.stage import run_stage
from harness.ground.protocol import TEST_FAULT_ENV

from .conftest import write_matrix

RUNTIME = """
[[runtime]]
id = "ort-1.21.1"
onnxruntime = "1.21.1"
pins = {{ numpy = "1.26.4" }}
{expect}
"""
RAISED_IR = 11  # ONNX Runtime 1.21 reads IR versions up to 10


# The cells whose kept artifacts the tests lay out (from host's): the runtime stage judges only the matrix's.
CELLS = ("host", "raised", "bent", "twin")


def _matrix(tmp: Path, host_torch: str, expect: str = "", deploy: bool = False) -> Path:
    cells = "".join(f'\n[[cell]]\nid = "{cell}"\ntorch = "{host_torch}"\n' for cell in CELLS)
    path = write_matrix(tmp / "matrix.toml", cells + RUNTIME.format(expect=expect), models=("deeplog", "mscred"),
                        strategies=("legacy", "dynamo", "auto"), blocks=200)
    if deploy:  # the release must work on ort-1.21.1
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace("\n[gate]\n", '\n[gate]\ndeploy = ["ort-1.21.1"]\n', 1), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def kept(tmp_path_factory, host_torch):
    """reports/artifacts as cells leave it: host/<strategy>/ from a real cell context, and raised/legacy/,
    host's legacy DeepLog with its IR version raised past ONNX Runtime 1.21's."""
    tmp = tmp_path_factory.mktemp("runtimes")
    matrix = load_matrix(_matrix(tmp, host_torch))
    golden = tmp / "reports" / "golden"
    build.prepare(matrix, source.resolve(matrix), golden, reuse=False)
    artifacts = tmp / "reports" / "artifacts"
    result = CellResult(cell_id="host", status="complete")
    ctx = CellContext(matrix.cells[0], matrix, tmp / "work", Stages(result.stages), golden_dir=golden,
                      keep_dir=artifacts / "host")
    for model in ("deeplog", "mscred"):
        assert golden_checks.golden_parity(ModelContext(ctx, model)).passed
    raised = artifacts / "raised" / "legacy"
    shutil.copytree(artifacts / "host" / "legacy", raised)
    proto = onnx.load(str(raised / "deeplog.onnx"))
    proto.ir_version = RAISED_IR
    onnx.save(proto, str(raised / "deeplog.onnx"))
    (raised / "mscred.onnx").unlink()
    return tmp


def _stage(tmp: Path, matrix_path: Path, child_env=None, jobs: int = 1) -> RuntimeResult:
    return _stages(tmp, matrix_path, child_env, jobs)[0]


def _stages(tmp: Path, matrix_path: Path, child_env=None, jobs: int = 1) -> list[RuntimeResult]:
    from harness.runtimes import engine as cengine

    matrix = load_matrix(matrix_path)
    opts = RunOptions(child_env=child_env or {})
    return run_stage(matrix, tmp / "reports", envs.RUNTIMES_ENV_DIR, lambda python: child_environment(python, opts),
                     cengine.ensure_built(), False, lambda line: None, jobs)


@pytest.fixture(scope="module")
def ran(kept, host_torch) -> RuntimeResult:
    return _stage(kept, _matrix(kept, host_torch))


def test_every_kept_artifact_at_every_level_by_both_engines(ran):
    assert ran.status == "complete" and ran.environment["onnxruntime"] == "1.21.1"
    keys = {o.artifact for o in ran.outcomes}
    assert keys == {f"host/{s}/{m}" for s in ("legacy", "dynamo", "auto") for m in ("deeplog", "mscred")} | {
        "raised/legacy/deeplog"}
    assert len(ran.outcomes) == len(keys) * 4 * 2
    assert "localize" not in ran.stages  # nothing failed: the localizer never ran
    for o in ran.outcomes:
        if not o.artifact.startswith("raised/"):
            assert o.status == "pass", (o.artifact, o.level, o.engine, o.error)
            assert o.figures["max_abs_error"] <= 1e-5 and o.figures["torch_max_abs_error"] <= 1e-5


def test_the_c_engine_and_python_give_the_same_outputs_within_1e_6(ran):
    compared = [o for o in ran.outcomes if o.engine == "c" and o.status == "pass"]
    assert len(compared) == 6 * 4
    assert max(o.figures["python_max_abs_error"] for o in compared) <= 1e-6


def test_latency_is_measured_per_artifact_at_level_all(ran):
    timed = [o for o in ran.outcomes if o.latency]
    assert {(o.level, o.engine) for o in timed} == {("all", "python")}
    for o in timed:
        assert o.latency["session_ms"] > 0 and o.latency["run_us_b1"] > 0 and o.latency["run_us_b256"] > 0


def test_two_runtimes_at_once_give_the_outcomes_of_one_at_a_time(kept, ran, host_torch):
    """ort-1.21.1 beside ort-1.32.0 (--jobs 2): its outcomes are those it gave alone, and both complete."""
    path = _matrix(kept, host_torch)
    path.write_text(path.read_text(encoding="utf-8") + """
[[runtime]]
id = "ort-1.32.0"
onnxruntime = "1.32.0"
pins = { numpy = "2.4.6" }
""", encoding="utf-8")
    try:
        first, second = _stages(kept, path, jobs=2)
    finally:
        _matrix(kept, host_torch)  # the module's other tests run on ort-1.21.1 alone

    def statuses(result):
        return sorted((o.artifact, o.level, o.engine, o.status) for o in result.outcomes)

    assert (first.runtime_id, second.runtime_id) == ("ort-1.21.1", "ort-1.32.0")
    assert first.status == second.status == "complete" and statuses(first) == statuses(ran)
    assert second.environment["onnxruntime"] == "1.32.0" and len(second.outcomes) == len(ran.outcomes)
    assert all(o.status == "pass" for o in second.outcomes if not o.artifact.startswith("raised/"))


def test_a_model_the_runtime_cannot_read_is_incompatible_with_its_own_message(ran):
    raised = [o for o in ran.outcomes if o.artifact == "raised/legacy/deeplog"]
    assert {o.status for o in raised} == {"incompatible"}
    for o in raised:
        assert f"Unsupported model IR version: {RAISED_IR}, max supported IR version: 10" in o.error, o.error
    assert all(o.error.startswith("cannot load model") or "inference_engine" in o.error
               for o in raised if o.engine == "c")


def test_the_deploy_gate_fails_on_an_auto_artifact_refused_and_passes_what_an_expectation_accepts(kept, ran,
                                                                                                host_torch):
    reports = kept / "reports"
    # the refused file is the auto strategy's in cell "raised": the deploy runtime must take it
    shutil.move(reports / "artifacts" / "raised" / "legacy", reports / "artifacts" / "raised" / "auto")
    try:
        refused = _stage(kept, _matrix(kept, host_torch, deploy=True))
        matrix = load_matrix(kept / "matrix.toml")
        (reports / "cells").mkdir(exist_ok=True)
        built = build_report(reports / "cells", matrix, reports)
        deploy = [m for m in built.verdict.messages if m.startswith("DEPLOY ")]
        assert len(deploy) == 8 and deploy[0].startswith("DEPLOY ort-1.21.1 raised/auto/deeplog at disabled (python): "
                                                         "incompatible: ")
        assert "; deploy ort-1.21.1 16/24 auto outcomes as wanted" in built.verdict.line
        assert built.verdict.exit_code == 1
        accepted = _matrix(kept, host_torch, deploy=True, expect='''
[[runtime.expect]]
cell = "raised"
outcome = "incompatible"
reason = "its IR version was raised past what 1.21 reads, on purpose"
''')
        _stage(kept, accepted)
        built = build_report(reports / "cells", load_matrix(accepted), reports)
        assert not [m for m in built.verdict.messages if m.startswith("DEPLOY ")]
        assert "deploy ort-1.21.1 24/24 auto outcomes as wanted" in built.verdict.line  # 3 auto files x 4 x 2
        assert {o.status for o in refused.outcomes if o.artifact == "raised/auto/deeplog"} == {"incompatible"}
    finally:
        shutil.move(reports / "artifacts" / "raised" / "auto", reports / "artifacts" / "raised" / "legacy")


def test_a_runner_crash_on_one_artifact_is_recorded_and_the_rest_go_on(kept, host_torch):
    fault = {TEST_FAULT_ENV: "ort-1.21.1:crash@host/dynamo/mscred"}
    crashed = _stage(kept, _matrix(kept, host_torch), child_env=fault)
    by_artifact: dict[str, set[str]] = {}
    for o in crashed.outcomes:
        by_artifact.setdefault(o.artifact, set()).add(o.status)
    assert by_artifact.pop("host/dynamo/mscred") == {"crash"}
    assert by_artifact.pop("raised/legacy/deeplog") == {"incompatible"}
    assert set().union(*by_artifact.values()) == {"pass"} and len(by_artifact) == 5
    crash = next(o for o in crashed.outcomes if o.status == "crash")
    assert "the runner died (signal 11) on this artifact" in crash.error
    assert json.loads((kept / "reports" / "runtimes" / "ort-1.21.1.json").read_text())["status"] == "complete"


def test_an_artifact_that_disagrees_names_its_first_divergence_replayably_and_in_the_report(kept, host_torch,
                                                                                           tmp_path):
    """host's legacy DeepLog with its final-layer bias altered after export: every level fails against the golden
    outputs; each Python failure is localized with the runtime's own values at that level (the output Gemm, an
    exporter divergence since the checkpoint disagrees there), the bundle's command replays it, and the report
    lists it."""
    import html
    import os
    import re
    import shlex
    import subprocess
    import sys

    from harness.parity.faults import perturb_initializer

    reports = tmp_path / "reports"
    shutil.copytree(kept / "reports" / "golden", reports / "golden")
    bent = reports / "artifacts" / "bent" / "legacy"
    shutil.copytree(kept / "reports" / "artifacts" / "host" / "legacy", bent)
    (bent / "mscred.onnx").unlink()
    perturb_initializer(bent / "deeplog.onnx", bent / "deeplog.onnx", "head.bias", delta=0.05)
    matrix_path = _matrix(tmp_path, host_torch)
    result = _stage(tmp_path, matrix_path)
    assert {(o.artifact, o.status) for o in result.outcomes} == {("bent/legacy/deeplog", "fail")}
    python = [o for o in result.outcomes if o.engine == "python"]
    assert len(python) == 4 and "localize" in result.stages
    for o in python:
        assert o.divergence.startswith("first divergence: "), o.divergence
        assert "[exporter divergence]" in o.divergence and ("Gemm" in o.divergence or "MatMul" in o.divergence)
    assert all(o.divergence is None for o in result.outcomes if o.engine == "c")  # the Python case says where
    bundle = reports / "runtimes" / "repro" / "ort-1.21.1" / "bent-legacy-deeplog-all"
    document = json.loads((bundle / "divergence.json").read_text())
    assert (bundle / "input.npy").is_file() and "--runtime ort-1.21.1" in document["command"]
    replayed = subprocess.run(shlex.split(document["command"]), cwd=tmp_path, capture_output=True, text=True,
                              timeout=600, check=False,
                              env={**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"})
    assert replayed.returncode == 0, replayed.stderr[-2000:]
    assert replayed.stdout.splitlines()[0] == next(o for o in python if o.level == "all").divergence
    # the issue-ready bundle: its repro.py reproduces in the runtime's own venv (onnxruntime and numpy only)
    assert "Seen in the runtime ort-1.21.1" in (bundle / "repro" / "ISSUE.md").read_text(encoding="utf-8")
    checked = subprocess.run([str(envs.RUNTIMES_ENV_DIR / "ort-1.21.1" / "bin" / "python"), "-I", "repro.py"],
                             cwd=bundle / "repro", capture_output=True, text=True, timeout=600, check=False)
    assert checked.returncode == 1 and json.loads(checked.stdout.splitlines()[-1])["onnxruntime"] == "1.21.1"
    (reports / "cells").mkdir()
    built = build_report(reports / "cells", load_matrix(matrix_path), reports)
    page = re.sub(r"<[^>]+>", " ", built.index.read_text(encoding="utf-8"))  # what the page reads, tags aside
    findings = re.sub(r"\s+", " ", html.unescape(page))
    assert "Runtime outcomes that did not agree" in findings
    assert "fail bent/legacy/deeplog on ort-1.21.1 at all (python)" in findings
    assert next(o for o in python if o.level == "all").divergence in findings


def _graph_twins(kept: Path, tmp: Path) -> Path:
    """reports/ with host's legacy DeepLog, a twin of it that differs only in its producer version (with its own
    cell's PyTorch outputs nudged by 4e-6), and a copy whose head bias is altered."""
    import numpy as np

    from harness.parity.faults import perturb_initializer

    reports = tmp / "reports"
    shutil.copytree(kept / "reports" / "golden", reports / "golden")
    for cell in ("host", "twin", "bent"):
        shutil.copytree(kept / "reports" / "artifacts" / "host" / "legacy", reports / "artifacts" / cell / "legacy")
        (reports / "artifacts" / cell / "legacy" / "mscred.onnx").unlink()
    twin = reports / "artifacts" / "twin" / "legacy"
    proto = onnx.load(str(twin / "deeplog.onnx"))
    proto.producer_version += "-twin"
    onnx.save(proto, str(twin / "deeplog.onnx"))
    with np.load(twin / "deeplog.torch.npz") as data:
        nudged = {k: data[k] + np.float32(4e-6) if k.startswith("out_") else data[k] for k in data.files}
    np.savez(twin / "deeplog.torch.npz", **nudged)
    bent = reports / "artifacts" / "bent" / "legacy" / "deeplog.onnx"
    perturb_initializer(bent, bent, "head.bias", delta=0.05)
    return reports


def test_a_graph_that_differs_only_in_its_producer_is_run_once_and_judged_against_its_own_torch(kept, host_torch,
                                                                                               tmp_path):
    reports = _graph_twins(kept, tmp_path)
    shutil.rmtree(reports / "artifacts" / "bent")
    result = _stage(tmp_path, _matrix(tmp_path, host_torch))
    described = {a["key"]: a for a in json.loads((reports / "runtimes" / "artifacts.json").read_text())}
    host, twin = described["host/legacy/deeplog"], described["twin/legacy/deeplog"]
    assert host["sha256"] != twin["sha256"] and host["graph_sha256"] == twin["graph_sha256"]
    by_key = {(o.artifact, o.level, o.engine): o for o in result.outcomes}
    assert len(by_key) == 2 * 4 * 2 and {o.status for o in result.outcomes} == {"pass"}
    for (key, level, engine), o in by_key.items():
        if key == "twin/legacy/deeplog":
            first = by_key["host/legacy/deeplog", level, engine]
            assert o.figures["ran_as"] == "host/legacy/deeplog" and "ran_as" not in first.figures
            assert o.figures["max_abs_error"] == first.figures["max_abs_error"]  # the same outputs
            assert abs(o.figures["torch_max_abs_error"] - first.figures["torch_max_abs_error"]) > 1e-6  # its own torch


def test_an_artifact_claimed_to_share_a_graph_that_does_not_is_run_on_its_own(kept, tmp_path, host_torch):
    """An artifacts.json that says bent's graph is host's (it is not: its head bias differs): the runner's own
    check on the smallest case catches it and runs bent in full, which fails."""
    from converter.compare import Tolerance
    from harness.runtimes import runner

    reports = _graph_twins(kept, tmp_path)
    shutil.rmtree(reports / "artifacts" / "twin")
    described = tmp_path / "artifacts.json"
    described.write_text(json.dumps([{"key": k, "graph_sha256": "0" * 64}
                                     for k in ("host/legacy/deeplog", "bent/legacy/deeplog")]))
    matrix = load_matrix(_matrix(tmp_path, host_torch))
    result = runner.run(matrix.runtime("ort-1.21.1"), reports / "artifacts", tmp_path / "out.json",
                        matrix.tolerance, None, set(), described)
    statuses = {(o.artifact, o.status) for o in result.outcomes}
    assert statuses == {("host/legacy/deeplog", "pass"), ("bent/legacy/deeplog", "fail")}
    assert not [o for o in result.outcomes if "ran_as" in o.figures] and len(result.outcomes) == 2 * 4
