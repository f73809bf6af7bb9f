"""Naming the graph transformer that changed the numbers, on graphs built with onnx.helper and run by the
ONNX Runtime of this venv (real sessions, bit-exact comparisons where the rounding is the point)."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from harness.localize.optimizers import (
    applied_transformers,
    find_culprit_optimizers,
    level_name,
    transformer_names,
)

CHANNELS, SIDE = 4, 8


def _conv_bn() -> tuple[bytes, dict[str, np.ndarray]]:
    """Conv then BatchNormalization with large weights and a tiny variance: folding the BN into the Conv's
    weights (ConvBNFusion, basic and up) rounds float32 differently from running the two nodes."""
    rng = np.random.default_rng(0)
    arrays = {
        "W": rng.standard_normal((CHANNELS, CHANNELS, 3, 3)) * 1e3,
        "B": rng.standard_normal(CHANNELS) * 1e3,
        "scale": rng.standard_normal(CHANNELS) * 7.3,
        "bias": rng.standard_normal(CHANNELS) * 1e2,
        "mean": rng.standard_normal(CHANNELS) * 1e3,
        "var": rng.uniform(1e-4, 1e-3, CHANNELS),
    }
    nodes = [helper.make_node("Conv", ["x", "W", "B"], ["conv"], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["conv", "scale", "bias", "mean", "var"], ["y"], epsilon=1e-5)]
    shape = [1, CHANNELS, SIDE, SIDE]
    initializers = [numpy_helper.from_array(value.astype(np.float32), name) for name, value in arrays.items()]
    graph = helper.make_graph(nodes, "conv_bn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString(), {"x": rng.standard_normal(shape).astype(np.float32)}


def _run(model: bytes, feeds: dict[str, np.ndarray], level: str, disabled: list[str] | None = None) -> np.ndarray:
    options = ort.SessionOptions()
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"],
                                   disabled_optimizers=disabled or [])
    return session.run(None, feeds)[0]


@pytest.mark.parametrize("level", ["basic", "extended"])
def test_conv_bn_fusion_is_named_and_its_removal_restores_the_bits(level: str) -> None:
    model, feeds = _conv_bn()
    ort_level = f"ORT_ENABLE_{level.upper()}"
    disabled = _run(model, feeds, "ORT_DISABLE_ALL")
    assert not np.array_equal(_run(model, feeds, ort_level), disabled), "the fusion must change the bits"

    found = find_culprit_optimizers(model, feeds, level, atol=0.0, rtol=0.0)

    assert found.level == level and found.explained and found.diverges
    assert found.culprits == ("ConvBNFusion",)
    assert found.error_as_is > 0.0 and found.error_disabled == 0.0
    assert found.sessions >= 3  # the reference, the level as is, every candidate disabled, then the singles
    assert "ConvBNFusion" in found.candidates
    assert "ConvBNFusion" in found.summary()
    # checked apart from the module: the level with that one transformer disabled is bit-identical to disabled
    assert np.array_equal(_run(model, feeds, ort_level, ["ConvBNFusion"]), disabled)


def test_all_needs_every_transformer_that_touches_the_conv() -> None:
    """At `all` the fused Conv may also be rewritten to the NCHWc kernel (x86): halving finds the set, and the
    set, disabled, restores the bits."""
    model, feeds = _conv_bn()
    found = find_culprit_optimizers(model, feeds, "ORT_ENABLE_ALL")

    assert found.explained and "ConvBNFusion" in found.culprits
    assert set(found.culprits) <= {"ConvBNFusion", "NchwcTransformer"}
    assert found.error_as_is > 0.0 and found.error_disabled == 0.0
    assert np.array_equal(_run(model, feeds, "ORT_ENABLE_ALL", list(found.culprits)),
                          _run(model, feeds, "ORT_DISABLE_ALL"))


def test_an_agreeing_level_names_nothing() -> None:
    """The same fusion under a tolerance wider than its rounding, and a graph no transformer touches."""
    model, feeds = _conv_bn()
    loose = find_culprit_optimizers(model, feeds, "basic", atol=0.0, rtol=1e-3)
    assert not loose.diverges and loose.culprits == () and loose.explained
    assert loose.error_as_is > 0.0  # it did differ, within the tolerance
    assert loose.sessions == 2
    assert "agrees" in loose.summary()

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "relu",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])])
    relu = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    relu.ir_version = 8
    plain = find_culprit_optimizers(relu.SerializeToString(), {"x": np.array([-1.0, 0.0, 2.5], np.float32)}, "all")
    assert not plain.diverges and plain.error_as_is == 0.0 and plain.culprits == ()


def test_a_divergence_the_candidates_cannot_explain_is_reported_so(tmp_path) -> None:
    """Candidates that leave ConvBNFusion on (one of them a name ONNX Runtime does not know, which it
    ignores) cannot make basic agree: the result says so instead of naming something."""
    model, feeds = _conv_bn()
    path = tmp_path / "conv_bn.onnx"
    path.write_bytes(model)

    found = find_culprit_optimizers(path, feeds, "basic", candidates=["ConstantFolding", "NoSuchTransformer"])

    assert not found.explained and found.diverges and found.culprits == ()
    assert found.candidates_source == "caller"
    assert found.error_disabled == found.error_as_is > 0.0
    assert "not an optimizer divergence that disabled_optimizers can explain" in found.summary()


def test_the_verbose_log_names_what_ran_in_this_onnxruntime() -> None:
    """The rule wrapper that fused the Conv and BN is in this runtime's log; its rules come first."""
    model, _ = _conv_bn()
    logged = applied_transformers(model, "basic")
    assert logged is not None, f"onnxruntime {ort.__version__} logged no transformer names"
    assert "ConvBNFusion" in logged and logged[-1] == "Level1_RuleBasedTransformer"
    assert logged.index("ConvBNFusion") < logged.index("Level1_RuleBasedTransformer")
    assert "NchwcTransformer" not in logged  # a level-3 transformer does not run at basic


def test_the_static_table_follows_the_release() -> None:
    old, new = transformer_names("extended", "1.15.0"), transformer_names("extended", "1.32.0")
    assert "GeluFusion" in old and "GeluFusionL2" not in old and "GatherToSplitFusion" in old
    assert "GeluFusionL2" in new and "GeluFusion" not in new and "GatherSliceToSplitFusion" in new
    assert "RocmBlasAltImpl" in transformer_names("basic", "1.23.2")
    assert "RocmBlasAltImpl" not in transformer_names("basic", "1.24.4")
    assert "ConvBNFusion" in transformer_names("basic", "1.21.1")
    assert "NchwcTransformer" not in transformer_names("basic") and "NchwcTransformer" in transformer_names("all")
    assert transformer_names("all")[-2:] == ("Level1_RuleBasedTransformer", "Level2_RuleBasedTransformer")


def test_level_names_in_either_spelling() -> None:
    assert level_name("ORT_ENABLE_EXTENDED") == level_name("extended") == "extended"
    assert level_name(ort.GraphOptimizationLevel.ORT_ENABLE_BASIC) == "basic"
    with pytest.raises(ValueError, match="not an optimization level"):
        level_name("disabled")


def test_the_localizer_names_the_optimizer_of_an_optimizer_divergence(tmp_path) -> None:
    """alog-matrix localize's report: the first diverging node, and the transformer whose removal fixes it."""
    from converter.compare import Tolerance
    from harness.localize.diagnose import localize

    model, feeds = _conv_bn()
    path = tmp_path / "conv_bn.onnx"
    path.write_bytes(model)

    report = localize(path, feeds["x"], opt_level="basic", tolerance=Tolerance(atol=0.0, rtol=0.0))

    assert report["verdict"] == "optimizer"
    blamed = report["optimizer"]["transformers"]
    assert blamed["named"] == ["ConvBNFusion"] and blamed["explained"] and blamed["error_disabled"] == 0.0
    assert any("the optimizer that changed the numbers: ConvBNFusion" in line for line in report["lines"])
