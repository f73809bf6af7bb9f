"""`alog-matrix localize` given what a hostile or careless user gives it: every malformed model, input or
checkpoint is one line on stderr with exit 2 (never a traceback, an abort or exit 3), nothing is read outside
the model's folder and no temporary folder is left behind."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T, helper as h, numpy_helper as nh

from converter import checkpoint
from converter.models import DeepLog, DeepLogConfig

ROOT = Path(__file__).resolve().parents[2]


def _run(model: Path, x: Path, *extra: str, tmpdir: Path | None = None):
    env = {**os.environ, "TMPDIR": str(tmpdir)} if tmpdir is not None else None
    return subprocess.run([sys.executable, "-m", "harness.cli", "localize", "--model", str(model), "--input", str(x),
                           *extra], cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)


def _one_line_exit_2(done, *needles: str) -> str:
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr and "internal error" not in done.stderr, done.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _save(folder: Path, model, x: np.ndarray) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(folder / "model.onnx"))
    np.save(folder / "x.npy", x)
    return folder / "model.onnx", folder / "x.npy"


def _relu(inputs=None, initializers=(), nodes=None):
    x = h.make_tensor_value_info("x", T.FLOAT, ["n", 4])
    y = h.make_tensor_value_info("y", T.FLOAT, ["n", 4])
    graph = h.make_graph(nodes if nodes is not None else [h.make_node("Relu", ["x"], ["y"])], "g",
                         inputs or [x], [y], list(initializers))
    return h.make_model(graph, opset_imports=[h.make_opsetid("", 17)])


def test_external_data_outside_the_model_folder_is_refused_and_not_read(tmp_path):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.ones(4, np.float32).tobytes())
    weight = nh.from_array(np.ones(4, np.float32), "w")
    weight.ClearField("raw_data")
    weight.data_location = T.EXTERNAL
    weight.external_data.add(key="location", value="../secret.bin")
    model = _relu(initializers=[weight], nodes=[h.make_node("Add", ["x", "w"], ["y"])])
    before = secret.stat().st_atime_ns
    paths = _save(tmp_path / "models", model, np.zeros((2, 4), np.float32))
    _one_line_exit_2(_run(*paths), "points outside the model's folder", "nothing read")
    assert secret.stat().st_atime_ns == before


def test_a_graph_with_a_cycle_is_one_line(tmp_path):
    model = _relu(nodes=[h.make_node("Add", ["x", "b"], ["a"]), h.make_node("Relu", ["a"], ["b"]),
                         h.make_node("Identity", ["a"], ["y"])])
    _one_line_exit_2(_run(*_save(tmp_path, model, np.zeros((2, 4), np.float32))), "reads 'b' before", "cycle")


def test_a_billion_element_initializer_is_refused_before_anything_is_allocated(tmp_path):
    huge = onnx.TensorProto(name="huge", data_type=T.FLOAT, dims=[10**9])  # declared, not stored
    model = _relu(initializers=[huge], nodes=[h.make_node("Relu", ["x"], ["y"])])
    _one_line_exit_2(_run(*_save(tmp_path, model, np.zeros((2, 4), np.float32))), "'huge' alone 1,000,000,000")


def test_a_custom_domain_op_is_one_line(tmp_path):
    model = _relu(nodes=[h.make_node("Frobnicate", ["x"], ["y"], domain="com.example.ops")])
    model.opset_import.append(h.make_opsetid("com.example.ops", 1))
    _one_line_exit_2(_run(*_save(tmp_path, model, np.zeros((2, 4), np.float32))), "cannot compare",
                     "com.example.ops.Frobnicate")


def test_two_data_inputs_are_one_line(tmp_path):
    inputs = [h.make_tensor_value_info(n, T.FLOAT, ["n", 4]) for n in ("x", "z")]
    model = _relu(inputs=inputs, nodes=[h.make_node("Add", ["x", "z"], ["y"])])
    _one_line_exit_2(_run(*_save(tmp_path, model, np.zeros((2, 4), np.float32))), "2 data inputs (x, z)")


def test_an_empty_graph_and_an_empty_file_are_one_line(tmp_path):
    _one_line_exit_2(_run(*_save(tmp_path / "a", _relu(nodes=[]), np.zeros((2, 4), np.float32))), "empty graph")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "model.onnx").write_bytes(b"")
    np.save(tmp_path / "b" / "x.npy", np.zeros((2, 4), np.float32))
    _one_line_exit_2(_run(tmp_path / "b" / "model.onnx", tmp_path / "b" / "x.npy"), "empty graph")


def test_a_model_whose_every_input_is_an_initializer_has_no_data_input(tmp_path):
    weight = nh.from_array(np.ones((2, 4), np.float32), "x")
    model = _relu(initializers=[weight])
    line = _one_line_exit_2(_run(*_save(tmp_path, model, np.zeros((2, 4), np.float32))), "0 data inputs")
    assert "archive" not in line


@pytest.mark.parametrize("shape", [(0, 10), (2, 0)])
def test_an_empty_batch_or_sequence_is_one_line_and_leaves_no_temporary_folder(model_dir, tmp_path, shape):
    np.save(tmp_path / "x.npy", np.zeros(shape, np.int64))
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    done = _run(model_dir("HDFS", "legacy") / "deeplog.onnx", tmp_path / "x.npy", tmpdir=scratch)
    _one_line_exit_2(done, "no elements", f"{list(shape)}")
    assert list(scratch.iterdir()) == []


@pytest.mark.parametrize("ids", [[[0, 1, 2, 10**6]], [[-1, 0, 1, 2]]])
def test_token_ids_out_of_the_vocabulary_are_one_line(model_dir, tmp_path, ids):
    np.save(tmp_path / "x.npy", np.asarray(ids, np.int64))
    _one_line_exit_2(_run(model_dir("HDFS", "legacy") / "deeplog.onnx", tmp_path / "x.npy"), "token ids")


def _windows(trained) -> np.ndarray:
    import pandas as pd

    frame = pd.read_parquet(trained.sequences)
    return np.stack([np.asarray(w, dtype=np.int64) for w in frame["window"][:4]])


def test_a_checkpoint_of_another_model_with_the_same_vocabulary_is_refused_before_any_diagnosis(trained, model_dir,
                                                                                               tmp_path):
    import torch

    result = trained["HDFS"]
    model, payload = checkpoint.load(result.deeplog_checkpoint, "deeplog")
    torch.manual_seed(5)
    other = DeepLog(DeepLogConfig(**{**model.config.to_dict(), "hidden": 32}))
    checkpoint.save(tmp_path / "other.pth", "deeplog", other, payload["extra"])
    np.save(tmp_path / "x.npy", _windows(result))
    done = _run(model_dir("HDFS", "legacy") / "deeplog.onnx", tmp_path / "x.npy", "--checkpoint",
                str(tmp_path / "other.pth"), "--out", str(tmp_path / "out"))
    _one_line_exit_2(done, "is not the checkpoint the model was exported from")
    assert not (tmp_path / "out").exists()


def test_the_kind_comes_from_the_meta_not_the_input_name(trained, model_dir, tmp_path):
    """The DeepLog artifact with its input renamed: its meta.json still says deeplog, so its checkpoint is
    taken as one (a guess by the name took it for MSCRED's)."""
    result = trained["HDFS"]
    source = model_dir("HDFS", "legacy")
    model = onnx.load(str(source / "deeplog.onnx"))
    old = model.graph.input[0].name
    model.graph.input[0].name = "ids"
    for node in model.graph.node:
        node.input[:] = ["ids" if name == old else name for name in node.input]
    onnx.save(model, str(tmp_path / "deeplog.onnx"))
    shutil.copyfile(source / "deeplog.onnx.meta.json", tmp_path / "deeplog.onnx.meta.json")
    np.save(tmp_path / "x.npy", _windows(result))
    done = _run(tmp_path / "deeplog.onnx", tmp_path / "x.npy", "--checkpoint", str(result.deeplog_checkpoint))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"verdict": "none"}
