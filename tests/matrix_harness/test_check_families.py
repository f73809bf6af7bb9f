"""Each check family on real artifacts: one real cell context (this interpreter's torch, DeepLog and MSCRED
trained on the synthetic log, exported with legacy, dynamo and auto, the parity suite, the C engine), walked
through the registry exactly as a cell runner walks it; then the defects each family once had, each on a
real artifact."""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from converter.exporting import STRATEGIES
from harness.checks import CHECKS, axes, suite as parity, warnings
from harness.checks.context import CellContext, ModelContext, Stages
from harness.checks.recorder import Recorder, run_registry
from harness.golden import build, source
from harness.golden.store import Golden
from harness.config.matrix import DEFAULT_MATRIX, load_matrix
from harness.parity.faults import perturb_initializer
from harness.parity.figures import FiguresRecorder
from harness.parity.layout import discover_artifacts, strategies_for
from harness.ground.records import CellResult

from .conftest import write_matrix

ROOT = Path(__file__).resolve().parents[2]
TOLERANCE = {"atol": 2e-5, "rtol": 2e-4, "max_outlier_fraction": 0.0}  # not the default: it must reach every export
MODELS = ("deeplog", "mscred")


def _matrix(tmp: Path, host_torch: str, **kw):
    """A one-cell matrix for this torch with the repository's warnings allow-list and a non-default tolerance."""
    matrix = load_matrix(write_matrix(tmp / "matrix.toml", f"""
        [tolerance]
        atol = {TOLERANCE['atol']}
        rtol = {TOLERANCE['rtol']}
        max_outlier_fraction = 0.0

        [[cell]]
        id = "host"
        torch = "{host_torch}"
    """, **kw))
    return dataclasses.replace(matrix, warnings_allowed=load_matrix(DEFAULT_MATRIX).warnings_allowed)


def _golden(matrix, folder: Path) -> Path:
    """The run's golden data, as the orchestrator makes it before the cells (a reference model here)."""
    build.prepare(matrix, source.resolve(matrix), folder, reuse=False)
    return folder


def _context(matrix, work: Path, golden: Path | None = None) -> tuple[CellContext, CellResult, Recorder]:
    cell = matrix.cells[0]
    result = CellResult(cell_id=cell.id, status="complete")
    golden = golden or _golden(matrix, work.parent / "golden")
    ctx = CellContext(cell, matrix, work, Stages(result.stages), golden_dir=golden, keep_dir=work.parent / "kept")
    return ctx, result, Recorder(cell, result, lambda r: None)


@pytest.fixture(scope="module")
def walked(tmp_path_factory, host_torch):
    """(context, result): every registered check for both models, with all three strategies."""
    import torch

    tmp = tmp_path_factory.mktemp("families")
    # 200 blocks, as the repository's matrix: MSCRED's largest scale needs 65 time points of the log
    matrix = _matrix(tmp, host_torch, models=MODELS, strategies=("legacy", "dynamo", "auto"), blocks=200)
    ctx, result, recorder = _context(matrix, tmp / "work")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as a cell runs
    try:
        run_registry(ctx, recorder)
    finally:
        torch.set_num_threads(threads)
    return ctx, result


def _check(result: CellResult, model: str, name: str):
    (found,) = [c for c in result.checks if (c.model, c.check) == (model, name)]
    return found


def test_the_registry_is_walked_once_per_model_and_check_in_order(walked):
    _, result = walked
    assert [(c.check, c.model) for c in result.checks] == [(c, m) for c in CHECKS for m in MODELS]
    assert {c.status for c in result.checks} == {"pass"}, [(c.model, c.check, c.error) for c in result.checks
                                                           if c.status != "pass"]
    assert set(result.stages) >= {"probe", "train", "load", "default_call", "export", "dynamic_axes", "golden",
                                  "parity", "cengine"}


def test_signature_family_reads_this_torchs_exporter(walked):
    import torch

    _, result = walked
    detail = _check(result, "deeplog", "exporter_signature").detail
    params = inspect.signature(torch.onnx.export).parameters
    assert detail["dynamo_keyword"] == ("dynamo" in params)
    assert detail["dynamic_shapes_keyword"] == ("dynamic_shapes" in params)
    assert detail["unknown_keyword"] == "rejected" and detail["default_exporter"] in ("dynamo", "torchscript")


def test_export_family_reads_every_strategys_record_and_its_tolerance(walked):
    _, result = walked
    for model in MODELS:
        legacy = _check(result, model, "legacy_export")
        assert legacy.detail["exporter"] == "torchscript" and legacy.detail["call"] == "dynamo=False"
        assert _check(result, model, "typeerror_fallback").detail["verdict"] == "dynamo=False accepted, no retry needed"
        assert _check(result, model, "dynamo_export").detail["classification"] == "ok"
        assert _check(result, model, "auto_export").detail["exporter"] == "dynamo"
        # matrix.toml's [tolerance] verified every export, the pipeline's legacy one included
        for name in ("legacy_export", "dynamo_export", "auto_export"):
            assert _check(result, model, name).detail["tolerance"] == TOLERANCE, (model, name)


def test_axes_family_sweeps_batch_and_sequence(walked):
    _, result = walked
    deeplog, mscred = _check(result, "deeplog", "dynamic_axes"), _check(result, "mscred", "dynamic_axes")
    assert deeplog.figures["examples"] == 12 and mscred.figures["examples"] == 3
    assert deeplog.detail["artifact"] == "auto" and deeplog.detail["frozen_axes"] == {}
    assert deeplog.figures["max_abs_error"] <= TOLERANCE["atol"]


def test_parity_family_runs_the_suite_once_and_splits_it_per_model(walked):
    ctx, result = walked
    deeplog, mscred = _check(result, "deeplog", "parity"), _check(result, "mscred", "parity")
    assert deeplog.detail["command"] == mscred.detail["command"]  # one run for the cell
    assert f"--parity-tolerance atol={TOLERANCE['atol']},rtol={TOLERANCE['rtol']}" in deeplog.detail["command"]
    for check in (deeplog, mscred):
        tests = check.detail["tests"]
        assert tests and all(t["outcome"] == "passed" for t in tests)
        assert check.figures["examples"] > 0 and check.figures["tests"] == len(tests)
    assert any("verdict" in t["test"] for t in deeplog.detail["tests"])
    # auto's artifact is checked under its own label; its random-weight copies are dynamo's and legacy's
    assert {t["test"].rsplit("[", 1)[1].split("-")[0] for t in deeplog.detail["tests"] if "random" in t["test"]} \
        == {"legacy", "dynamo"}


def test_engine_family_matches_python_ort_and_the_reference_detector(walked):
    _, result = walked
    for model in MODELS:
        engine = _check(result, model, "cengine")
        assert engine.figures["max_abs_error"] <= 1e-6
    detection = _check(result, "deeplog", "cengine").figures
    assert detection["lines"] > 0 and detection["disagreements"] == 0


def test_training_family_trains_here_and_loads_the_golden_checkpoint(walked):
    ctx, result = walked
    for model in MODELS:
        assert Path(_check(result, model, "train").detail["checkpoint"]).is_file()
        loaded = _check(result, model, "checkpoint_load")
        assert loaded.detail["sha256"] == ctx.golden().model(model)["sha256"]
        assert loaded.detail["checkpoint"] == str(ctx.golden().checkpoint(model))
        # the cell exports the golden checkpoint, not the one it trained itself
        assert ctx.exported(model).checkpoint == ctx.golden().checkpoint(model)


def test_golden_family_compares_this_torch_and_every_artifact_with_the_golden_outputs(walked):
    ctx, result = walked
    for model in MODELS:
        drift = _check(result, model, "torch_drift")
        cases = ctx.golden().model(model)["cases"]
        assert drift.figures["cases"] == len(cases) and drift.figures["failed"] == 0
        assert drift.figures["max_abs_error"] == 0.0  # the same torch as the golden stage: bit for bit
        golden = _check(result, model, "golden_parity")
        assert set(golden.detail["artifacts"]) == {"legacy", "dynamo", "auto"}
        for strategy, record in golden.detail["artifacts"].items():
            assert record["vs_golden"]["failed"] == 0 and record["diagnosis"] is None
            assert golden.figures[f"{strategy}_max_abs_error"] <= TOLERANCE["atol"]
            kept = ctx.keep_dir / strategy
            assert (kept / f"{model}.onnx").is_file() and (kept / f"{model}.onnx.meta.json").is_file()
            assert json.loads((kept / f"{model}.golden.json").read_text())["strategy"] == strategy
            assert (kept / f"{model}.golden.npz").stat().st_size == (ctx.golden().folder / f"{model}.npz").stat().st_size
    assert any(c["name"].startswith("log-windows") for c in ctx.golden().model("deeplog")["cases"])
    assert any(c["name"].startswith("log-matrices") for c in ctx.golden().model("mscred")["cases"])


def test_warnings_family_fails_on_a_warning_the_matrix_does_not_allow(walked):
    ctx, result = walked
    assert _check(result, "deeplog", "warnings").figures["unexpected"] == 0
    strict = dataclasses.replace(ctx, matrix=dataclasses.replace(ctx.matrix, warnings_allowed=()))
    outcome = warnings.warnings(ModelContext(strict, "deeplog"))
    total = _check(result, "deeplog", "warnings").figures["warnings"]
    assert total > 0  # the TorchScript exporter's deprecation notice, at least
    assert outcome.passed is False and outcome.figures["unexpected"] == total
    assert outcome.error.startswith(f"{total} warning(s) not in [warnings].allow, first: ")



def test_the_suite_runs_in_this_process_and_hands_back_its_exit_code_and_output(tmp_path, monkeypatch):
    """run_pytest: pytest.main in the calling process (no fresh interpreter): a failing test is exit 1 with
    pytest's own summary, the environment it was given holds during the run only, the cwd stays."""
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_sample.py").write_text(
        "import os, sys\n"
        "def test_sees_its_environment():\n"
        "    assert os.environ['ALOG_PARITY_PROFILE'] == 'thorough'\n"
        "def test_runs_in_the_callers_process():\n"
        f"    assert os.getpid() == {os.getpid()}\n"
        "def test_fails():\n"
        "    assert 1 == 2\n", encoding="utf-8")
    monkeypatch.delenv("ALOG_PARITY_PROFILE", raising=False)
    here = os.getcwd()
    code, printed = parity.run_pytest(["-q", "-p", "no:cacheprovider", "--rootdir", str(suite), str(suite)],
                                      ALOG_PARITY_PROFILE="thorough")
    assert code == 1
    assert printed.strip().splitlines()[-1].startswith("1 failed, 2 passed")
    assert "assert 1 == 2" in printed
    assert "ALOG_PARITY_PROFILE" not in os.environ and os.getcwd() == here

# --- the defects, each on real artifacts -----------------------------------------------------------


def test_a_failed_parity_self_check_is_no_evidence_for_every_model():
    """The suite's self-checks record model "deeplog"; a broken checker must leave MSCRED's row without
    evidence too, and so must a self-check that never ran: neither is a failure an expectation could accept."""
    from harness.checks.registry import NoEvidence
    from harness.parity.figures import SELF_CHECKS

    recorder = FiguresRecorder()
    rows = [("t::test_deeplog_parity_trained", "deeplog", "numeric", "passed"),
            ("t::test_mscred_parity_trained", "mscred", "numeric", "passed"),
            ("t::test_parity_check_fails_on_perturbed_artifact", "deeplog", "broken_artifact", "failed")]
    rows += [(f"t::test_{name}", "deeplog", name, "passed") for name in sorted(SELF_CHECKS - {"broken_artifact"})]
    for test, model, check, outcome in rows:
        figures = recorder.entry(test, model, check)
        figures.examples, figures.outcome = 5, outcome
    recorder.entries["t::test_parity_check_fails_on_perturbed_artifact"].first_failure = "DID NOT RAISE ParityFailure"
    doc = recorder.document()
    for model in MODELS:
        with pytest.raises(NoEvidence, match="self-check t::test_parity_check_fails_on_perturbed_artifact did not "
                                             "pass \\(failed\\): DID NOT RAISE ParityFailure"):
            parity.judge_model(doc, model)
    doc["tests"][2]["outcome"] = "passed"
    assert all(parity.judge_model(doc, m).passed for m in MODELS)
    doc["tests"] = [t for t in doc["tests"] if t["check"] != "near_zero"]
    for model in MODELS:
        with pytest.raises(NoEvidence, match="self-check\\(s\\) near_zero never ran"):
            parity.judge_model(doc, model)


def test_parity_runs_per_model_on_the_strategies_that_made_its_artifacts(walked, tmp_path):
    """dynamo exported MSCRED but not DeepLog: DeepLog's random-weight copies must not be exported with dynamo."""
    ctx, _ = walked
    models = ctx.work / "models"
    layout = tmp_path / "artifacts"
    (layout / "dynamo").mkdir(parents=True)
    for name in ("deeplog", "mscred"):
        (layout / f"{name}.pth").symlink_to(ctx.golden().checkpoint(name))
    (layout / "legacy").symlink_to(models / "legacy")
    for name in ("mscred.onnx", "mscred.onnx.meta.json"):
        (layout / "dynamo" / name).symlink_to(models / "dynamo" / name)
    sets = discover_artifacts(layout)
    assert strategies_for(sets, "deeplog", STRATEGIES) == ("legacy",)
    assert strategies_for(sets, "mscred", STRATEGIES) == ("legacy", "dynamo")


def test_a_failing_dynamic_axes_bundle_holds_the_input_that_failed_and_replays_it(tmp_path, host_torch):
    """The artifact's final-layer bias is altered after export: the bundle must hold the very input of the first
    failing shape (not one drawn with another seed), and the command the check records must replay it."""
    from converter.verification import shape_inputs
    from harness.report.render import render_html

    matrix = _matrix(tmp_path, host_torch, models=("deeplog",), strategies=("legacy",))
    ctx, result, recorder = _context(matrix, tmp_path / "work")
    mut = ctx.exported("deeplog")
    artifact = mut.artifact("legacy")
    perturb_initializer(artifact, artifact, "head.bias", delta=0.05)
    outcome = axes.dynamic_axes(ModelContext(ctx, "deeplog"))
    assert outcome.passed is False and outcome.error.startswith("12 of 12 shapes failed: ")
    bundle = Path(outcome.repro)
    document = json.loads((bundle / "bundle.json").read_text())
    assert outcome.replay == document["command"] and outcome.replay in (bundle / "README.md").read_text()
    first_input = shape_inputs(mut.spec, axes.dynamic_shapes(mut))[0].numpy()
    assert np.array_equal(np.load(bundle / "input.npy"), first_input)
    replayed = subprocess.run(shlex.split(outcome.replay), cwd=tmp_path, capture_output=True, text=True, timeout=600,
                              check=False, env={**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}"
                                                                      f"{os.environ['PATH']}"})
    assert replayed.returncode == 1, replayed.stdout + replayed.stderr
    assert "numeric parity FAILS" in replayed.stdout
    # The report shows that very command, not a way into the bundle.
    recorder.record("deeplog", "dynamic_axes", outcome)
    doc = {"cells": [{"id": "host", "checks": [{**c.to_dict(), "recorded": True} for c in result.checks]}]}
    html = render_html(_minimal_report(doc))
    assert f"<code>{outcome.replay}</code>" in html and "README.txt" not in html
    # What a person sees: Chromium's DOM of that page holds the first divergence on the failing check's card.
    from browser import dump_dom
    from domtext import parse

    divergence = outcome.detail["divergence"]
    assert divergence.startswith("first divergence: ") and "[exporter divergence]" in divergence, divergence
    page = tmp_path / "index.html"
    page.write_text(html, encoding="utf-8")
    card = parse(dump_dom(page)).find(id="slot-host-deeplog-dynamic_axes").text()
    assert f"first divergence {divergence}" in card, card


def test_weights_altered_after_the_golden_outputs_fail_golden_parity_naming_model_artifact_and_figures(
        tmp_path, host_torch):
    import torch

    from converter import checkpoint
    from harness.checks import golden_parity as golden_checks
    from harness.checks import training

    matrix = _matrix(tmp_path, host_torch, models=("deeplog",), strategies=("legacy",))
    golden = _golden(matrix, tmp_path / "golden")
    path = Golden.load(golden).checkpoint("deeplog")
    model, payload = checkpoint.load(path, "deeplog")
    with torch.no_grad():
        model.head.bias += 0.05  # after the golden outputs were taken
    checkpoint.save(path, "deeplog", model, extra=payload["extra"])
    ctx, _, _ = _context(matrix, tmp_path / "work", golden)
    loaded = training.checkpoint_load(ModelContext(ctx, "deeplog"))
    assert loaded.passed is False and "changed since the golden outputs were taken" in loaded.error
    outcome = golden_checks.golden_parity(ModelContext(ctx, "deeplog"))
    assert outcome.passed is False
    assert outcome.error.startswith("1 of 1 deeplog artifacts differ from the golden outputs: legacy (this torch "
                                    "moved: the artifact agrees with it): legacy random-b1-l1 shape [1, ")
    assert "max abs error 0.05" in outcome.error
    assert outcome.figures["legacy_max_abs_error"] == pytest.approx(0.05, rel=1e-3)
    assert outcome.detail["artifacts"]["legacy"]["vs_torch"]["failed"] == 0  # the export itself is faithful
    drift = golden_checks.torch_drift(ModelContext(ctx, "deeplog"))
    assert drift.passed is False and drift.figures["max_abs_error"] == pytest.approx(0.05, rel=1e-3)


def _minimal_report(doc):
    """A report document around the given cells, as harness.report.build builds it."""
    from harness.config.policy import Policy
    from harness.report.model import status_counts

    cell = doc["cells"][0]
    cell.update({"torch": None, "pins": {}, "in_matrix": True, "state": "complete", "problem": None, "source": None,
                 "environment": {}, "stages": {}, "started": None, "finished": None, "signal": None,
                 "output_tail": None, "worst": "fail"})
    return {"generated": "now", "matrix": None, "cells_dir": ".", "policy": Policy().to_dict(), "tolerance": {},
            "models": ["deeplog"], "checks": list(CHECKS), "counts": status_counts(doc["cells"]),
            "cells": doc["cells"], "drift_alerts": [], "baseline": None, "golden": None,
            "verdict": {"exit_code": 1, "word": "FAIL", "line": "alog-matrix gate: FAIL", "messages": []}}


def _copy_checkout(target: Path, without: tuple[str, ...] = ()) -> Path:
    """This checkout's code (converter, harness, tests) in another folder, as another clone would hold it,
    less the folders named in ``without`` (relative to the checkout)."""
    import shutil

    for name in ("converter", "harness", "tests", "cengine"):
        shutil.copytree(ROOT / name, target / name, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__", "bin", "obj", "third_party"))
    for relative in without:
        shutil.rmtree(target / relative)
    return target


def _run_parity_cell(tmp_path: Path, checkout: Path, host_torch: str) -> tuple[CellResult, Path, Path]:
    """One host cell running only the parity check, its harness imported from ``checkout``."""
    matrix_path = write_matrix(tmp_path / "matrix.toml", f"""
        [[cell]]
        id = "host"
        torch = "{host_torch}"
    """, checks=["parity"])
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    out = tmp_path / "cells" / "host.json"
    golden = _golden(load_matrix(matrix_path), tmp_path / "golden")
    ran = subprocess.run([sys.executable, "-m", "harness.cli", "run-cell", "--cell", "host", "--matrix",
                          str(matrix_path), "--out", str(out), "--work", str(tmp_path / "work"), "--golden", str(golden),
                          "--keep", str(tmp_path / "kept")], cwd=checkout, env=env,
                         capture_output=True, text=True, timeout=900, check=False)
    assert ran.returncode == 0, ran.stderr
    return CellResult.read(out), out, matrix_path


def test_the_parity_check_passes_from_a_checkout_without_its_tests_folder(tmp_path, host_torch):
    """The parity suite ships with the harness: a copy of the checkout with no tests/ runs it all the same."""
    checkout = _copy_checkout(tmp_path / "checkout", without=("tests",))
    assert not (checkout / "tests").exists()
    result, _, _ = _run_parity_cell(tmp_path, checkout, host_torch)
    (check,) = [c for c in result.checks if c.check == "parity"]
    assert check.status == "pass", (check.error, check.detail.get("output_tail"))
    assert check.figures["tests"] > 0 and check.figures["examples"] > 0
    assert str(checkout / "harness" / "parity" / "suite") in check.detail["command"]  # the copy's suite ran


def test_a_checkout_without_the_parity_suite_gives_no_evidence_not_a_pass(tmp_path, host_torch):
    checkout = _copy_checkout(tmp_path / "checkout", without=("harness/parity/suite",))
    assert not (checkout / "harness" / "parity" / "suite").exists()
    result, out, matrix_path = _run_parity_cell(tmp_path, checkout, host_torch)
    (check,) = [c for c in result.checks if c.check == "parity"]
    assert check.status == "missing"
    assert check.error.startswith("the parity suite cannot be loaded here (") and "no parity evidence" in check.error
    gate = subprocess.run([sys.executable, "-m", "harness.cli", "report", "--cells-dir", str(out.parent),
                           "--matrix", str(matrix_path), "--out", str(tmp_path / "report")], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False)
    assert gate.returncode == 0, gate.stderr
    assert gate.stdout.startswith("alog-matrix gate: ERROR (")  # no evidence, never PASS
    judged = subprocess.run([sys.executable, "-m", "harness.cli", "gate", str(tmp_path / "report" / "matrix.json")],
                            cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert judged.returncode == 2 and "ERROR host deeplog.parity: the parity suite cannot be loaded" in judged.stdout


@pytest.mark.parametrize("debug", [False, True])
def test_a_harness_crash_exits_3_never_the_gates_fail_code(tmp_path, host_torch, debug):
    matrix_path = write_matrix(tmp_path / "matrix.toml", f"""
        [[cell]]
        id = "host"
        torch = "{host_torch}"
    """)
    env = {**os.environ, "ALOG_MATRIX_TEST_FAULT": "host:raise@venv", "ALOG_DEBUG": "1" if debug else "0"}
    ran = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--host", "--matrix", str(matrix_path),
                          "--out", str(tmp_path / "reports"), "--work-root", str(tmp_path / "work")], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600, check=False)
    assert ran.returncode == 3
    lines = ran.stderr.strip().splitlines()
    assert lines[-1].startswith("alog-matrix run: internal error: RuntimeError: test fault: raise in cell host at "
                                "stage venv (protocol.py:")
    if debug:
        assert "Traceback (most recent call last)" in ran.stderr
    else:
        assert "Traceback" not in ran.stderr and lines[-1].endswith("; ALOG_DEBUG=1 shows the traceback")
