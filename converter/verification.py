"""Run an ONNX artifact in ONNX Runtime next to the PyTorch model and compare, shape by shape."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from converter.compare import DEFAULT_TOLERANCE, Comparison, Tolerance, compare
from converter.errors import AlogError, first_line
from converter.specs import ExportSpec, Shape

# Graph optimization levels by the names the matrix and the C engine use.
OPT_LEVELS = ("disabled", "basic", "extended", "all")
_ORT_LEVEL_NAMES = {"disabled": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC", "extended": "ORT_ENABLE_EXTENDED",
                    "all": "ORT_ENABLE_ALL"}


def ort_session(onnx_path: str | Path, threads: int = 1, opt_level: str | None = None):
    """The one way an ONNX Runtime session is made here: CPU, ``threads`` intra-op threads, errors-only logging,
    and ``opt_level`` (one of OPT_LEVELS; None keeps ONNX Runtime's default, "all")."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: warnings about unused initializers are not ours to show
    if opt_level is not None:
        if opt_level not in _ORT_LEVEL_NAMES:
            raise AlogError(f"unknown optimization level {opt_level!r}: choose one of {', '.join(OPT_LEVELS)}")
        options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, _ORT_LEVEL_NAMES[opt_level])
    return ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])


def torch_forward(model: torch.nn.Module, x: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return model(x).detach().cpu().numpy()


def shape_inputs(spec: ExportSpec, shapes: list[Shape]) -> list[torch.Tensor]:
    """The inputs a sweep over ``shapes`` runs, one per shape, each with its own fixed seed."""
    return [spec.make_input(batch, length, seed) for seed, (batch, length) in enumerate(shapes, start=1)]


def compare_inputs(model: torch.nn.Module, session, spec: ExportSpec, inputs: list[torch.Tensor],
                   tolerance: Tolerance = DEFAULT_TOLERANCE) -> list[Comparison]:
    """One comparison per input; an ORT failure at an input is a failed comparison, not an exception."""
    results = []
    for x in inputs:
        name = f"{spec.output_name} at {spec.input_name}{list(x.shape)}"
        expected = torch_forward(model, x)
        try:
            actual = session.run([spec.output_name], {spec.input_name: x.numpy()})[0]
        except Exception as exc:  # noqa: BLE001 - ORT refusing a shape means the axis is not really dynamic
            failed = compare(expected, np.empty((0,)), tolerance, name)
            failed.problem = f"ONNX Runtime failed: {first_line(exc, 300)}"
            results.append(failed)
            continue
        results.append(compare(expected, actual, tolerance, name))
    return results


def compare_at_shapes(
    model: torch.nn.Module,
    onnx_path: str | Path,
    spec: ExportSpec,
    shapes: list[Shape],
    tolerance: Tolerance = DEFAULT_TOLERANCE,
    session=None,
) -> list[Comparison]:
    """PyTorch vs ONNX Runtime at each of ``shapes`` (inputs from ``shape_inputs``)."""
    return compare_inputs(model, session or ort_session(onnx_path), spec, shape_inputs(spec, shapes), tolerance)


def worst(comparisons: list[Comparison]) -> dict:
    """Summary figures over several comparisons (for records and reports)."""
    finite = [c for c in comparisons if not c.problem]
    return {
        "shapes": len(comparisons),
        "failed": sum(1 for c in comparisons if not c),
        "max_abs_error": max((c.max_abs_error for c in finite), default=None),
        "max_rel_error": max((c.max_rel_error for c in finite), default=None),
        "outliers": sum(c.outliers for c in finite),
    }
