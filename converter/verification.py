"""Run an ONNX artifact in ONNX Runtime next to the PyTorch model and compare, shape by shape."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from converter.compare import DEFAULT_TOLERANCE, Comparison, Tolerance, compare
from converter.errors import AlogError, first_line
from converter.ortsession import ort_session
from converter.specs import ExportSpec, Shape


def torch_forward(model: torch.nn.Module, x: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return model(x).detach().cpu().numpy()


def shape_inputs(spec: ExportSpec, shapes: list[Shape]) -> list[torch.Tensor]:
    """The inputs a sweep over ``shapes`` runs, one per shape, each with its own fixed seed."""
    return [spec.make_input(batch, length, seed) for seed, (batch, length) in enumerate(shapes, start=1)]


def compare_inputs(model: torch.nn.Module, session, spec: ExportSpec, inputs: list[torch.Tensor],
                   tolerance: Tolerance = DEFAULT_TOLERANCE) -> list[Comparison]:
    """One comparison per input; an ORT failure at an input is a failed comparison, not an exception."""
    import onnxruntime as ort

    run_options = ort.RunOptions()
    if os.environ.get("ALOG_DEBUG") != "1":  # a failing kernel's own error log: the comparison reports it once
        run_options.log_severity_level = 4
    results = []
    for x in inputs:
        name = f"{spec.output_name} at {spec.input_name}{list(x.shape)}"
        if x.numel() == 0:  # ONNX Runtime's kernels abort the whole process on an empty batch
            raise AlogError(f"cannot compare {name}: an empty batch or sequence cannot be run")
        expected = torch_forward(model, x)
        try:
            actual = session.run([spec.output_name], {spec.input_name: x.numpy()}, run_options)[0]
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
