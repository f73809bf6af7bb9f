"""Parity mode on inputs ONNX Runtime cannot be trusted with: an empty batch or sequence (was SIGABRT,
"terminate called without an active exception", from ONNX Runtime's kernels) and DeepLog token ids
outside the vocabulary (were exit 4, a runtime failure, or for a negative id a wrapped lookup and exit 0).
Both are bad input: exit 3 and one line (``Engine.run`` fails the test on a signal or more lines)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

INPUT = 3


def run(engine, model, array: np.ndarray, tmp_path):
    np.save(tmp_path / "x.npy", array)
    return engine.run("--model", model, "--input", tmp_path / "x.npy", "--output", tmp_path / "y.npy")


@pytest.mark.parametrize("shape", [(0, 10), (3, 0), (0, 0)])
def test_empty_deeplog_batch_or_sequence_is_bad_input(engine, hdfs_dir, tmp_path, shape):
    result = run(engine, hdfs_dir / "deeplog.onnx", np.zeros(shape, np.int64), tmp_path)
    assert result.code == INPUT, result.stderr
    assert f"holds no values (shape [{', '.join(map(str, shape))}])" in result.stderr
    assert not (tmp_path / "y.npy").exists()


def test_empty_mscred_batch_is_bad_input(engine, hdfs_dir, tmp_path):
    meta = json.loads((hdfs_dir / "mscred.onnx.meta.json").read_text())
    x = np.zeros((0, meta["step"], meta["scales"], meta["sensors"], meta["sensors"]), np.float32)
    result = run(engine, hdfs_dir / "mscred.onnx", x, tmp_path)
    assert result.code == INPUT and "holds no values" in result.stderr, result.stderr


@pytest.mark.parametrize("token", ["vocab", -1])
def test_token_ids_outside_the_vocabulary_are_bad_input(engine, hdfs_dir, tmp_path, token):
    vocab = json.loads((hdfs_dir / "deeplog.onnx.meta.json").read_text())["vocab_size"]
    x = np.zeros((2, 10), np.int64)
    x[1, 3] = vocab if token == "vocab" else token
    result = run(engine, hdfs_dir / "deeplog.onnx", x, tmp_path)
    assert result.code == INPUT, result.stderr
    assert f"token id {x[1, 3]} at position 13, outside the vocabulary (0..{vocab - 1})" in result.stderr


def test_ids_are_not_judged_without_a_metadata_file(engine, hdfs_dir, tmp_path):
    """A bare model (no meta beside it) has no known vocabulary: ids go to ONNX Runtime as they are."""
    shutil.copyfile(hdfs_dir / "deeplog.onnx", tmp_path / "bare.onnx")
    x = np.ones((2, 10), np.int64)
    assert run(engine, tmp_path / "bare.onnx", x, tmp_path).code == 0
    assert np.load(tmp_path / "y.npy").shape[0] == 2
