"""Zero-size batches and sequences never reach ONNX Runtime from the converter: its kernels abort the
whole process on an empty batch ("terminate called without an active exception", SIGABRT), so the
comparison behind --validate and the reference detector's predict refuse one with a clear AlogError,
and `convert-onnx --validate --seq-len 0` is one line, exit 1. Each case runs in its own process, so
an abort is a failed test, not a dead test run."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from converter import checkpoint
from converter.models import DeepLog, DeepLogConfig

TEMPLATES = [f"template {i} <*>" for i in range(6)]
VOCAB = {t: i for i, t in enumerate(TEMPLATES)}


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """A small real DeepLog checkpoint and its legacy export."""
    from converter.convert import convert_deeplog

    work = tmp_path_factory.mktemp("empty")
    (work / "vocab.json").write_text(json.dumps(VOCAB), encoding="utf-8")
    checkpoint.save(work / "deeplog.pth", "deeplog", DeepLog(DeepLogConfig(6, 4, 8, 1, 4)),
                    extra={"vocab_sha256": checkpoint.vocab_digest(VOCAB), "log_format": "hdfs", "header_fields": 5})
    convert_deeplog(work / "deeplog.pth", work / "vocab.json", work / "out", exporter="legacy")
    return work


def python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("shape", [(0, 4), (0, 1)])
def test_validation_sweep_refuses_an_empty_shape(converted, shape):
    done = python(f"""
        from converter import checkpoint
        from converter.errors import AlogError
        from converter.specs import deeplog_spec
        from converter.verification import compare_at_shapes
        model, _ = checkpoint.load({str(converted / "deeplog.pth")!r}, "deeplog")
        try:
            compare_at_shapes(model, {str(converted / "out" / "deeplog.onnx")!r}, deeplog_spec(model), [{shape!r}])
        except AlogError as exc:
            print("refused:", exc)
        """)
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-2000:]}"
    assert "refused: cannot compare" in done.stdout and "empty batch or sequence" in done.stdout


def test_reference_predict_refuses_no_windows(converted):
    done = python(f"""
        import numpy as np
        from converter.detection import load_model_dir
        from converter.errors import AlogError
        predict = load_model_dir({str(converted / "out")!r}).predict()
        try:
            predict(np.zeros((0, 4), np.int64))
        except AlogError as exc:
            print("refused:", exc)
        """)
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-2000:]}"
    assert "refused: no windows to predict (shape [0, 4])" in done.stdout


def test_validate_with_a_zero_seq_len_is_one_line(converted, tmp_path):
    done = subprocess.run([sys.executable, "-m", "converter.cli", "convert-onnx", "--deeplog-model",
                           str(converted / "deeplog.pth"), "--vocab", str(converted / "vocab.json"), "--output-dir",
                           str(tmp_path / "out"), "--validate", "--seq-len", "0"], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip().splitlines() == [
        "alog-detect convert-onnx: error: --seq-len 0 is out of range: expected an integer from 1 to 1000000"]
    assert not (tmp_path / "out").exists()
