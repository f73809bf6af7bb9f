"""The parity check itself: it must fail loudly on a broken artifact, count a lone outlier, and not let
near-zero outputs inflate relative error. Artifacts are real exports edited with onnx + numpy."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from converter import checkpoint
from converter.compare import Tolerance
from converter.detection import ort_predict
from converter.exporting import export_model
from converter.models import DeepLog, DeepLogConfig
from converter.specs import deeplog_spec
from harness.parity.faults import perturb_initializer
from harness.parity.properties import ParityContext, ParityFailure, check_parity
from harness.parity.replay import replay as replay_bundle
from harness.parity.subjects import Subject
from harness.parity.suite.support import deeplog_seq_bounds, run_deeplog_numeric
from harness.parity.verdicts import check_verdicts

# The self-checks test the checker with known numbers, so they judge under the default policy whatever
# --parity-tolerance the run was given (a matrix run passes its own).
SELFCHECK_TOLERANCE = Tolerance()


def _exported(tmp_path: Path, config: DeepLogConfig, seed: int, edit=None) -> tuple[DeepLog, Path, Path]:
    torch.manual_seed(seed)
    model = DeepLog(config).eval()
    if edit is not None:
        with torch.no_grad():
            edit(model)
    ckpt = tmp_path / "deeplog.pth"
    checkpoint.save(ckpt, "deeplog", model)
    onnx_path = tmp_path / "deeplog.onnx"
    export_model(model, deeplog_spec(model), onnx_path, "legacy")
    return model, ckpt, onnx_path


def test_parity_check_fails_on_perturbed_artifact(random_subjects, parity_ctx, tmp_path):
    good = random_subjects("deeplog", "v30-h64-l2-e16-s10", "legacy")
    broken_path = tmp_path / "broken" / "deeplog.onnx"
    broken_path.parent.mkdir()
    edited = perturb_initializer(good.onnx_path, broken_path, "head.bias", delta=0.05)
    broken = Subject(f"{good.label}+perturbed", "deeplog", good.model, broken_path, good.checkpoint)
    ctx = parity_ctx("deeplog", "broken_artifact", broken, tolerance=SELFCHECK_TOLERANCE)
    ctx.repro_dir = tmp_path / "repro"  # a healthy run leaves no bundle in reports/repro

    with pytest.raises(ParityFailure) as failure:  # the very runner the real tests use
        run_deeplog_numeric(broken, ctx, *deeplog_seq_bounds(good.model.config.seq_len), examples=10)

    message = str(failure.value)
    bundle = failure.value.bundle
    assert bundle is not None
    assert edited == "head.bias"
    assert "output 'logits'" in message
    assert "shape [1, 30]" in message and "sequences[1, 1]" in message  # shrunk to the smallest input
    assert "max abs error 0.05" in message and "max rel error" in message
    assert "30 of 30 elements outside atol=1e-05 rtol=0.0001" in message
    assert f"repro bundle: {bundle}" in message and bundle.parent == ctx.repro_dir
    assert sorted(p.name for p in bundle.iterdir()) == [
        "README.md", "actual.npy", "bundle.json", "expected.npy", "input.npy", "model.onnx", "model.pth"]
    assert np.load(bundle / "input.npy").shape == (1, 1)
    assert np.abs(np.load(bundle / "actual.npy") - np.load(bundle / "expected.npy")).max() == pytest.approx(0.05, 1e-3)
    assert json.loads((bundle / "bundle.json").read_text())["kind"] == "numeric"
    assert not [p for p in ctx.repro_dir.iterdir() if p.name.startswith(".")]  # no half-written bundle left
    assert ctx.figures.failures >= 1 and ctx.figures.repro == str(bundle)

    # The bundle's own command (exactly as it records it) reproduces the failure in a fresh process...
    command = json.loads((bundle / "bundle.json").read_text())["command"]
    assert command in (bundle / "README.md").read_text()
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    replayed = subprocess.run(shlex.split(command), cwd=tmp_path, capture_output=True, text=True, timeout=300,
                              env={**os.environ, "PATH": path}, check=False)
    assert replayed.returncode == 1, replayed.stdout + replayed.stderr
    assert "numeric parity FAILS" in replayed.stdout and "30 of 30 elements" in replayed.stdout
    # ...and reports it gone once the artifact is the good one again.
    (bundle / "model.onnx").write_bytes(good.onnx_path.read_bytes())
    assert replay_bundle(bundle)[0] is False


def test_parity_counts_a_single_outlier_among_thousands(tmp_path, parity_ctx, parity_run):
    config = DeepLogConfig(vocab_size=3000, seq_len=4, hidden=8, layers=1, embed_dim=4)
    model, ckpt, good_path = _exported(tmp_path, config, seed=5)
    one_off = tmp_path / "one-off.onnx"
    perturb_initializer(good_path, one_off, "head.bias", index=1234, delta=1e-3)
    subject = Subject("deeplog-v3000/one-outlier", "deeplog", model, one_off, ckpt)
    x = np.random.default_rng(0).integers(0, 3000, size=(1, 4), dtype=np.int64)

    strict = parity_ctx("deeplog", "single_outlier", subject, tolerance=SELFCHECK_TOLERANCE)
    strict.repro_dir = tmp_path / "repro"
    with pytest.raises(ParityFailure) as failure:
        check_parity(subject, x, strict)
    assert "1 of 3000 elements outside" in str(failure.value) and "worst at [0, 1234]" in str(failure.value)
    comparison = failure.value.comparison
    assert comparison is not None and comparison.outliers == 1

    # A policy that accepts a tiny share of outliers passes, and still counts the one it accepted.
    lenient = ParityContext(parity_run.sessions, Tolerance(max_outlier_fraction=1e-3), tmp_path / "repro",
                            strict.figures, strict.test)
    comparison = check_parity(subject, x, lenient)
    assert comparison and comparison.outliers == 1 and comparison.worst_index == (0, 1234)
    assert strict.figures.outliers == 2 and strict.figures.examples_with_outliers == 2 and strict.figures.examples == 2


def test_parity_near_zero_outputs_keep_relative_error_bounded(tmp_path, parity_ctx):
    def near_zero_logit(model: DeepLog) -> None:  # logit 3 is 1e-9 whatever the input
        model.head.weight[3].zero_()
        model.head.bias[3] = 1e-9

    config = DeepLogConfig(vocab_size=20, seq_len=5, hidden=16, layers=1, embed_dim=8)
    model, ckpt, good_path = _exported(tmp_path, config, seed=9, edit=near_zero_logit)
    nudged = tmp_path / "nudged.onnx"
    perturb_initializer(good_path, nudged, "head.bias", index=3, delta=5e-7)  # well inside atol
    subject = Subject("deeplog-v20/near-zero", "deeplog", model, nudged, ckpt)
    ctx = parity_ctx("deeplog", "near_zero", subject, tolerance=SELFCHECK_TOLERANCE)
    x = np.random.default_rng(1).integers(0, 20, size=(8, 5), dtype=np.int64)

    comparison = check_parity(subject, x, ctx)
    expected, actual = subject.torch_output(x), subject.ort_output(x, ctx.sessions)
    naive = np.abs(actual[:, 3] - expected[:, 3]) / np.abs(expected[:, 3])
    assert naive.min() > 100  # the case is real: plain |diff| / |expected| explodes on this logit
    assert comparison.outliers == 0 and comparison.max_rel_error < 1e-4
    assert comparison.max_abs_error == pytest.approx(5e-7, rel=0.05)


def test_parity_verdicts_flip_on_perturbed_artifact(random_subjects, parity_ctx, parity_run, tmp_path):
    good = random_subjects("deeplog", "v12-h8-l1-e4-s6", "legacy")
    vocab = {key: f"event{key:02d} completed for block <*>" for key in range(12)}
    rng = np.random.default_rng(3)
    lines = [f"event{int(key):02d} completed for block blk_{n}" for n, key in enumerate(rng.integers(0, 12, 400))]
    lines.insert(50, "a line no template matches")
    seq_len, g = good.model.config.seq_len, 9

    # The good artifact: every verdict agrees (the replay is real: windows, anomalies, unknown lines).
    ctx = parity_ctx("deeplog", "broken_artifact", good, tolerance=SELFCHECK_TOLERANCE)
    ctx.repro_dir = tmp_path / "repro"
    ort = parity_run.sessions.predictor(good.onnx_path, good.input_name, good.output_name, ort_predict)
    outcome = check_verdicts(good, lines, vocab, 0, seq_len, g, ort, ctx)
    assert outcome.windows == 400 - seq_len and outcome.verdicts == 401 and outcome.anomalies >= 1

    # Template 0 pushed out of every top-g in ONNX Runtime only: its lines flip to anomalies.
    broken_path = tmp_path / "broken.onnx"
    perturb_initializer(good.onnx_path, broken_path, "head.bias", index=0, delta=-10.0)
    broken = Subject(f"{good.label}+template0-demoted", "deeplog", good.model, broken_path, good.checkpoint)
    ort_broken = parity_run.sessions.predictor(broken_path, broken.input_name, broken.output_name, ort_predict)
    with pytest.raises(ParityFailure) as failure:
        check_verdicts(broken, lines, vocab, 0, seq_len, g, ort_broken, ctx)
    message = str(failure.value)
    assert "verdict parity failed" in message and "verdicts differ between PyTorch and ONNX Runtime" in message
    assert "vs ONNX Runtime anomaly (not_in_top_g" in message and "first at line" in message
    assert f"repro bundle: {failure.value.bundle}" in message
    bundle = failure.value.bundle
    assert bundle is not None
    assert np.load(bundle / "input.npy").shape == (1, seq_len)
    assert json.loads((bundle / "bundle.json").read_text())["details"]["torch"]["template"] == 0
    assert replay_bundle(bundle)[0] is True  # the bundle's window still splits the two runtimes
