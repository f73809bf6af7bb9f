"""The localizer names the first node where the numbers go wrong: faults injected into real artifacts
(trained on Loghub's HDFS sample, exported by both exporters), and an optimizer-only difference."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from converter import checkpoint, signatures
from converter.compare import Tolerance
from harness.localize import graph, values
from harness.localize.diagnose import localize

ROOT = Path(__file__).resolve().parents[2]


def _windows(trained, count: int = 4) -> np.ndarray:
    import pandas as pd

    frame = pd.read_parquet(trained.sequences)
    return np.stack([np.asarray(w, dtype=np.int64) for w in frame["window"][:count]])


def _matrices(trained, count: int = 2) -> np.ndarray:
    model, _ = checkpoint.load(trained.mscred_checkpoint, "mscred")
    loaded = signatures.load_signatures(Path(trained.sequences).parent / signatures.SIGNATURES_FILE)
    windows = signatures.make_windows(loaded["signatures"], model.config.step)[:count]
    return np.ascontiguousarray(windows, dtype=np.float32)


def _alter(source: Path, target: Path, initializer: str, factor: float = 1.5) -> None:
    """A copy of the artifact with one weight scaled: what a wrong translation of one module looks like."""
    model = onnx.load(str(source))
    for tensor in model.graph.initializer:
        if tensor.name == initializer:
            tensor.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(tensor) * np.float32(factor), initializer))
            break
    else:
        raise AssertionError(f"{source} has no initializer {initializer}")
    onnx.save(model, str(target))


def _weight_of(model_path: Path, op_type: str, scope: str) -> tuple[str, str]:
    """(node name, weight initializer) of the first node of ``op_type`` exported from module ``scope``."""
    model = onnx.load(str(model_path))
    inits = {t.name for t in model.graph.initializer}
    for node in graph.nodes_of(model):
        if node.op_type == op_type and node.scope[:1] == (scope,):
            weights = [i for i in node.inputs[1:] if i in inits]
            if weights:
                return node.name, weights[0]
    raise AssertionError(f"no {op_type} of {scope} with a weight in {model_path}")


def _rows(report) -> dict[str, dict]:
    return {row["module"]: row for row in report["exporter"]["modules"]}


@pytest.mark.parametrize("strategy", ["legacy", "dynamo"])
def test_an_lstm_weight_altered_is_named_at_the_lstm_and_the_embedding_agrees(trained, model_dir, strategy,
                                                                               tmp_path):
    result = trained["HDFS"]
    source = model_dir("HDFS", strategy) / "deeplog.onnx"
    lstm_node, weight = _weight_of(source, "LSTM", "lstm")
    _alter(source, tmp_path / "deeplog.onnx", weight)

    report = localize(tmp_path / "deeplog.onnx", _windows(result), result.deeplog_checkpoint, "deeplog")

    assert report["verdict"] == "exporter", report["lines"]
    first = report["exporter"]["module"]
    assert (first["module"], first["class"], first["op_type"], first["node"]) == ("lstm", "LSTM", "LSTM", lstm_node)
    assert _rows(report)["embedding"]["state"] == "agrees"
    assert _rows(report)["embedding"]["op_type"] == "Gather"
    assert report["optimizer"]["node"] is None and report["kernel"]["node"] is None  # the runtimes agree
    assert report["lines"][0].startswith(f"first divergence: {lstm_node} (LSTM), max abs ")
    assert "after embedding agree" in report["lines"][0]


@pytest.mark.parametrize("strategy", ["legacy", "dynamo"])
def test_the_final_linear_weight_altered_is_named_at_its_gemm_and_the_lstm_agrees(trained, model_dir, strategy,
                                                                                  tmp_path):
    result = trained["HDFS"]
    source = model_dir("HDFS", strategy) / "deeplog.onnx"
    ops = {n.op_type for n in graph.nodes_of(onnx.load(str(source))) if n.scope[:1] == ("head",)}
    head_node, weight = _weight_of(source, "Gemm" if "Gemm" in ops else "MatMul", "head")
    _alter(source, tmp_path / "deeplog.onnx", weight)

    report = localize(tmp_path / "deeplog.onnx", _windows(result), result.deeplog_checkpoint, "deeplog")

    assert report["verdict"] == "exporter", report["lines"]
    first = report["exporter"]["module"]
    assert first["module"] == "head" and first["op_type"] in ("Gemm", "MatMul") and first["node"] == head_node
    assert _rows(report)["lstm"]["state"] == "agrees"
    assert _rows(report)["embedding"]["state"] == "agrees"
    assert report["exporter"]["downstream"] == []


def test_an_mscred_conv_weight_altered_is_named_at_that_conv_and_its_convlstm_consumer_differs(trained, model_dir,
                                                                                               tmp_path):
    result = trained["HDFS"]
    source = model_dir("HDFS", "legacy") / "mscred.onnx"
    conv_node, weight = _weight_of(source, "Conv", "enc1")
    _alter(source, tmp_path / "mscred.onnx", weight)

    report = localize(tmp_path / "mscred.onnx", _matrices(result), result.mscred_checkpoint, "mscred")

    assert report["verdict"] == "exporter", report["lines"]
    first = report["exporter"]["module"]
    assert (first["module"], first["op_type"], first["node"]) == ("enc1", "Conv", conv_node)
    assert "lstm1" in report["exporter"]["downstream"]  # the ConvLSTM that consumes enc1's maps
    consumers = [n for n in graph.nodes_of(onnx.load(str(source))) if n.scope[:1] == ("lstm1",)]
    assert consumers, "the ConvLSTM lstm1 is in the graph"
    assert report["lines"][1].startswith("downstream, differing too: ") and "lstm1" in report["lines"][1]


def test_an_optimizer_only_difference_is_a_runtime_divergence_not_an_exporter_one(trained, model_dir, tmp_path):
    """The values "at the failing level" come from a run whose one Conv computes differently (as a broken
    fusion would); disabled ONNX Runtime and the checkpoint stay the real ones."""
    result = trained["HDFS"]
    source = model_dir("HDFS", "legacy") / "mscred.onnx"
    conv_node, weight = _weight_of(source, "Conv", "enc2")
    _alter(source, tmp_path / "fused-wrongly.onnx", weight, factor=1.01)
    graph.mark_all(tmp_path / "fused-wrongly.onnx", tmp_path / "marked.onnx")
    x = _matrices(result)
    at_level = values.ort_values(tmp_path / "marked.onnx", x, "all")

    report = localize(source, x, result.mscred_checkpoint, "mscred", "all", level_values=at_level)

    assert report["verdict"] == "optimizer", report["lines"]
    assert report["optimizer"]["node"] == conv_node
    assert all(i["agrees"] for i in report["optimizer"]["inputs"])
    assert report["exporter"]["module"] is None  # PyTorch agrees with the unoptimized graph
    assert "[runtime/optimizer divergence: ONNX Runtime at all vs disabled]" in report["lines"][0]


def test_a_strict_tolerance_shows_the_real_optimizer_rounding_as_a_runtime_divergence(trained, model_dir):
    """Real ONNX Runtime at all vs disabled, with a zero tolerance: fused kernels round differently, and that
    is named on the runtime side (or, where this CPU's kernels round alike, nothing is named there)."""
    result = trained["HDFS"]
    source = model_dir("HDFS", "legacy") / "mscred.onnx"
    report = localize(source, _matrices(result), None, "mscred", "all", Tolerance(atol=0.0, rtol=0.0))
    if report["optimizer"]["node"] is not None:
        assert report["verdict"] == "optimizer"
        assert "runtime/optimizer divergence" in report["lines"][0]
    else:
        assert report["verdict"] in ("kernel", "none")
    assert "exporter" not in report  # no checkpoint: the PyTorch side is not claimed


def test_the_localize_command_names_the_node_and_writes_the_bundle(trained, model_dir, tmp_path):
    result = trained["HDFS"]
    source = model_dir("HDFS", "legacy") / "deeplog.onnx"
    lstm_node, weight = _weight_of(source, "LSTM", "lstm")
    _alter(source, tmp_path / "deeplog.onnx", weight)
    np.save(tmp_path / "input.npy", _windows(result))
    done = subprocess.run([sys.executable, "-m", "harness.cli", "localize", "--model", str(tmp_path / "deeplog.onnx"),
                           "--input", str(tmp_path / "input.npy"), "--checkpoint", str(result.deeplog_checkpoint),
                           "--out", str(tmp_path / "bundle")], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"first divergence: {lstm_node} (LSTM)")
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"verdict": "exporter"}
    written = json.loads((tmp_path / "bundle" / "divergence.json").read_text())
    assert written["exporter"]["module"]["module"] == "lstm"
    assert (tmp_path / "bundle" / "divergence.txt").read_text().splitlines()[0] == written["lines"][0]


@pytest.mark.parametrize("make, message", [
    (lambda d: None, "no such file"),
    (lambda d: (d / "input.npy").write_bytes(b"not an array"), "is not a NumPy .npy array"),
    (lambda d: np.save(d / "input.npy", np.zeros((2, 10), np.float32)), "the model takes int64"),
    (lambda d: np.save(d / "input.npy", np.zeros((2, 10, 3), np.int64)), "the model takes int64"),
])
def test_the_localize_command_refuses_a_bad_input_in_one_line(model_dir, tmp_path, make, message):
    make(tmp_path)
    done = subprocess.run([sys.executable, "-m", "harness.cli", "localize", "--model",
                           str(model_dir("HDFS", "legacy") / "deeplog.onnx"), "--input", str(tmp_path / "input.npy")],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr
