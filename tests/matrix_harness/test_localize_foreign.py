"""The localizer on ONNX models this project did not write: made here with onnx's helper from many operators,
opsets and dtypes, each run through `alog-matrix localize` as a user runs it. No exit 3, no divergence where
the two runtimes give the same bytes, every JSON strict; what cannot be compared is one line, exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T, helper as h, numpy_helper as nh

ROOT = Path(__file__).resolve().parents[2]
RNG = np.random.default_rng(22)


def _refuse_constant(name: str) -> None:
    raise ValueError(f"non-standard JSON constant {name}")


def strict_json(text: str):
    """json.loads that refuses NaN / Infinity literals, as strict parsers do."""
    return json.loads(text, parse_constant=_refuse_constant)


def _model(nodes, inputs, outputs, initializers=(), opset=17, ir=None):
    model = h.make_model(h.make_graph(nodes, "foreign", inputs, outputs, list(initializers)),
                         opset_imports=[h.make_opsetid("", opset)], producer_name="elsewhere")
    if ir is not None:
        model.ir_version = ir
    return model


def _vi(name, dtype, shape):
    return h.make_tensor_value_info(name, dtype, shape)


def _out(name, dtype, rank):
    return h.make_tensor_value_info(name, dtype, [f"d{i}" for i in range(rank)])


def _f(*shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


def corpus():
    """name -> (model, input): valid models of many operators, opsets and dtypes."""
    models = {}
    x = _vi("x", T.FLOAT, ["n", 4])
    models["add_mul_f32_op13"] = (_model(
        [h.make_node("Add", ["x", "c"], ["a"]), h.make_node("Mul", ["a", "a"], ["y"])], [x],
        [_out("y", T.FLOAT, 2)], [nh.from_array(_f(4), "c")], opset=13), _f(3, 4))
    # an initializer listed as a graph input before the data input: the data input is the other one
    models["matmul_f64_init_first"] = (_model(
        [h.make_node("MatMul", ["x", "w"], ["m"]), h.make_node("Relu", ["m"], ["y"])],
        [_vi("w", T.DOUBLE, [4, 5]), _vi("x", T.DOUBLE, ["n", 4])], [_out("y", T.DOUBLE, 2)],
        [nh.from_array(_f(4, 5, dtype=np.float64), "w")], opset=17), _f(2, 4, dtype=np.float64))
    models["conv_relu_f32_op11"] = (_model(
        [h.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]), h.make_node("Relu", ["c"], ["y"])],
        [_vi("x", T.FLOAT, ["n", 2, 6, 6])], [_out("y", T.FLOAT, 4)],
        [nh.from_array(_f(3, 2, 3, 3), "w"), nh.from_array(_f(3), "b")], opset=11), _f(2, 2, 6, 6))
    models["sqrt_of_negatives_nan"] = (_model(
        [h.make_node("Sqrt", ["x"], ["s"]), h.make_node("Add", ["s", "s"], ["y"])], [x], [_out("y", T.FLOAT, 2)],
        opset=13), np.array([[-1.0, 4.0, -9.0, 16.0]], dtype=np.float32))
    models["softmax_op13"] = (_model([h.make_node("Softmax", ["x"], ["y"], axis=-1)], [x],
                                     [_out("y", T.FLOAT, 2)], opset=13), _f(5, 4))
    models["gather_embedding_int64"] = (_model(
        [h.make_node("Gather", ["table", "ids"], ["e"]), h.make_node("ReduceSum", ["e"], ["y"], axes=[1])],
        [_vi("ids", T.INT64, ["n", "t"])], [_out("y", T.FLOAT, 2)],
        [nh.from_array(_f(7, 3), "table")], opset=12), np.array([[0, 6, 3], [1, 1, 2]], dtype=np.int64))
    models["reshape_transpose_op14"] = (_model(
        [h.make_node("Reshape", ["x", "shape"], ["r"]), h.make_node("Transpose", ["r"], ["y"], perm=[0, 2, 1])],
        [x], [_out("y", T.FLOAT, 3)], [nh.from_array(np.array([0, 2, 2], np.int64), "shape")], opset=14),
        _f(3, 4))
    models["layernorm_op17"] = (_model(
        [h.make_node("LayerNormalization", ["x", "g", "b"], ["y"], axis=-1, epsilon=1e-5)], [x],
        [_out("y", T.FLOAT, 2)], [nh.from_array(_f(4), "g"), nh.from_array(_f(4), "b")], opset=17), _f(6, 4))
    bn_inits = [nh.from_array(_f(3), "scale"), nh.from_array(_f(3), "bias"), nh.from_array(_f(3), "mean"),
                nh.from_array(np.abs(_f(3)) + 0.5, "var")]
    for opset in (9, 15):
        # opset 9 with a momentum attribute: onnx.reference takes its training-mode path there
        models[f"batchnorm_op{opset}"] = (_model(
            [h.make_node("BatchNormalization", ["x", "scale", "bias", "mean", "var"], ["y"], epsilon=1e-5,
                         momentum=0.9)],
            [_vi("x", T.FLOAT, ["n", 3, 4])], [_out("y", T.FLOAT, 3)], bn_inits, opset=opset), _f(4, 3, 4) * 3 + 1)
    models["cast_where_f16_bool"] = (_model(
        [h.make_node("Cast", ["x"], ["half"], to=T.FLOAT16), h.make_node("Greater", ["x", "zero"], ["positive"]),
         h.make_node("Cast", ["half"], ["back"], to=T.FLOAT),
         h.make_node("Where", ["positive", "back", "zero"], ["y"])],
        [x], [_out("y", T.FLOAT, 2)], [nh.from_array(np.zeros(1, np.float32), "zero")], opset=13), _f(3, 4))
    models["add_float16"] = (_model([h.make_node("Add", ["x", "x"], ["y"])], [_vi("x", T.FLOAT16, ["n", 4])],
                                    [_out("y", T.FLOAT16, 2)], opset=13), _f(2, 4, dtype=np.float16))
    models["int64_arith"] = (_model(
        [h.make_node("Mul", ["x", "x"], ["m"]), h.make_node("Add", ["m", "x"], ["y"])],
        [_vi("x", T.INT64, ["n"])], [_out("y", T.INT64, 1)], opset=13), np.arange(-3, 5, dtype=np.int64))
    # a bfloat16 value inside a float32 model: skipped and said so, never compared as raw bytes
    models["bfloat16_inside"] = (_model(
        [h.make_node("Cast", ["x"], ["b"], to=T.BFLOAT16), h.make_node("Cast", ["b"], ["y"], to=T.FLOAT)],
        [x], [_out("y", T.FLOAT, 2)], opset=13), _f(2, 4))
    return models


CORPUS = corpus()


def _localize(model: onnx.ModelProto, x: np.ndarray, folder: Path, *extra: str, env=None):
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(folder / "model.onnx"))
    np.save(folder / "input.npy", x)
    return subprocess.run([sys.executable, "-m", "harness.cli", "localize", "--model", str(folder / "model.onnx"),
                           "--input", str(folder / "input.npy"), *extra], cwd=folder, capture_output=True,
                          text=True, timeout=600, env=env)


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_a_foreign_model_is_localized_without_a_claimed_divergence_and_with_strict_json(name, tmp_path):
    model, x = CORPUS[name]
    onnx.checker.check_model(model)  # valid, as a team bringing its own model would have it
    done = _localize(model, x, tmp_path, "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", done.stderr  # ONNX Runtime's log stays off stderr
    assert strict_json(done.stdout.strip().splitlines()[-1]) == {"verdict": "none"}, done.stdout
    report = strict_json((tmp_path / "out" / "divergence.json").read_text())
    assert report["optimizer"]["node"] is None and report["kernel"]["node"] is None
    assert report["kernel"].get("unavailable") is None, report["kernel"]
    for written in (tmp_path / "out").rglob("*.json"):
        strict_json(written.read_text())


def test_nan_from_a_sqrt_of_negatives_is_a_finding_apart_not_a_divergence(tmp_path):
    model, x = CORPUS["sqrt_of_negatives_nan"]
    done = _localize(model, x, tmp_path, "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert "divergence" not in done.stdout.splitlines()[0]
    assert any(line.startswith("NaN/Inf, a finding apart: first made by") and "(Sqrt)" in line
               for line in done.stdout.splitlines()), done.stdout
    report = strict_json((tmp_path / "out" / "divergence.json").read_text())
    assert report["nonfinite"]["op_type"] == "Sqrt" and report["nonfinite"]["nan"] == 2


def test_batchnorm_opset_9_is_judged_against_onnxruntime_and_listed(tmp_path):
    model, x = CORPUS["batchnorm_op9"]
    done = _localize(model, x, tmp_path, "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    report = strict_json((tmp_path / "out" / "divergence.json").read_text())
    assert [d["op_type"] for d in report["kernel"]["judged_against_onnxruntime"]] == ["BatchNormalization"]
    assert "judged against ONNX Runtime alone" in done.stdout
    later = strict_json((tmp_path / "out" / "divergence.json").read_text())
    assert later["verdict"] == "none"


def test_a_bfloat16_value_inside_is_skipped_and_said(tmp_path):
    model, x = CORPUS["bfloat16_inside"]
    done = _localize(model, x, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "not compared: 1 values of a type numpy does not compute with: b (tensor(bfloat16))" in done.stdout


def test_an_initializer_listed_first_is_not_taken_for_the_data_input(tmp_path):
    model, x = CORPUS["matmul_f64_init_first"]
    assert model.graph.input[0].name == "w"
    done = _localize(model, x, tmp_path, "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert strict_json((tmp_path / "out" / "divergence.json").read_text())["data_input"] == "x"


def _one_line_exit_2(done, *needles: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_no_kernel_in_onnxruntime_is_cannot_compare(tmp_path):
    xi = _vi("x", T.FLOAT, [1, 1, 4, 4])
    model = _model([h.make_node("AveragePool", ["x"], ["y"], kernel_shape=[2, 2])], [xi], [_out("y", T.FLOAT, 4)],
                   opset=1, ir=3)
    _one_line_exit_2(_localize(model, _f(1, 1, 4, 4), tmp_path), "cannot compare", "NOT_IMPLEMENTED")


@pytest.mark.parametrize("kind", ["sequence", "optional"])
def test_a_non_tensor_output_is_cannot_compare(tmp_path, kind):
    x = _vi("x", T.FLOAT, [2, 3])
    if kind == "sequence":
        nodes = [h.make_node("SequenceConstruct", ["x", "x"], ["y"])]
        out = h.make_tensor_sequence_value_info("y", T.FLOAT, [2, 3])
    else:
        nodes = [h.make_node("Optional", ["x"], ["y"])]
        out = h.make_value_info("y", h.make_optional_type_proto(h.make_tensor_type_proto(T.FLOAT, [2, 3])))
    model = _model(nodes, [x], [out], opset=18)
    _one_line_exit_2(_localize(model, _f(2, 3), tmp_path), "cannot compare", f"is {kind}")


def test_onnxruntimes_log_shows_only_with_alog_debug(tmp_path):
    """A run that fails in a kernel (a Reshape the input does not fit) makes ONNX Runtime log a coloured error:
    kept off stderr (one line) unless ALOG_DEBUG=1."""
    import os

    model = _model([h.make_node("Reshape", ["x", "shape"], ["y"])], [_vi("x", T.FLOAT, ["n", 4])],
                   [_out("y", T.FLOAT, 1)], [nh.from_array(np.array([5], np.int64), "shape")], opset=14)
    _one_line_exit_2(_localize(model, _f(3, 4), tmp_path / "quiet"), "could not run the model on this input")
    loud = _localize(model, _f(3, 4), tmp_path / "loud", env={**os.environ, "ALOG_DEBUG": "1"})
    assert loud.returncode == 2 and "ExecuteKernel" in loud.stderr, loud.stderr
