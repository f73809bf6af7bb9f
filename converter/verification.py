"""Run an ONNX artifact in ONNX Runtime next to the PyTorch model and compare, shape by shape."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from converter.compare import DEFAULT_TOLERANCE, Comparison, Tolerance, compare
from converter.specs import ExportSpec, Shape


def ort_session(onnx_path: str | Path, threads: int = 1):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: warnings about unused initializers are not ours to show
    return ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])


def torch_forward(model: torch.nn.Module, x: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return model(x).detach().cpu().numpy()


def compare_at_shapes(
    model: torch.nn.Module,
    onnx_path: str | Path,
    spec: ExportSpec,
    shapes: list[Shape],
    tolerance: Tolerance = DEFAULT_TOLERANCE,
    session=None,
) -> list[Comparison]:
    """One comparison per shape; an ORT failure at a shape is a failed comparison, not an exception."""
    session = session or ort_session(onnx_path)
    results = []
    for seed, (batch, length) in enumerate(shapes, start=1):
        x = spec.make_input(batch, length, seed)
        name = f"{spec.output_name} at {spec.input_name}{list(x.shape)}"
        expected = torch_forward(model, x)
        try:
            actual = session.run([spec.output_name], {spec.input_name: x.numpy()})[0]
        except Exception as exc:  # ORT refuses the shape: the axis is not really dynamic
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            failed = compare(expected, np.empty((0,)), tolerance, name)
            failed.problem = f"ONNX Runtime failed: {first[:300]}"
            results.append(failed)
            continue
        results.append(compare(expected, actual, tolerance, name))
    return results


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
