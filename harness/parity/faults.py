"""Breaking an artifact on purpose: how the parity kit's self-checks (and the harness's tests) show that a
check fails when the numbers are wrong."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
from onnx import numpy_helper


def _edit_initializer(source, target, name_hint: str, edit: Callable[[np.ndarray], None]) -> str:
    """Copy an ONNX file with ``edit`` applied in place to one float initializer; returns its name.

    The initializer is the first whose name contains ``name_hint``, else the largest float one."""
    model = onnx.load(str(source))
    floats = [t for t in model.graph.initializer if t.data_type == onnx.TensorProto.FLOAT]
    named = [t for t in floats if name_hint in t.name]
    tensor = named[0] if named else max(floats, key=lambda t: int(np.prod(t.dims)))
    values = numpy_helper.to_array(tensor).copy()
    edit(values)
    tensor.CopyFrom(numpy_helper.from_array(values, tensor.name))
    onnx.save(model, str(target))
    return tensor.name


def perturb_initializer(source, target, name_hint: str, index: int | None = None, delta: float = 0.05) -> str:
    """Copy an ONNX file, adding ``delta`` to one float initializer (one element, or all of it); returns its name."""

    def add(values: np.ndarray) -> None:
        if index is None:
            values += np.float32(delta)
        else:
            values.flat[index] += np.float32(delta)

    return _edit_initializer(source, target, name_hint, add)


def scale_initializer(source, target, name_hint: str, factor: float = 1.5) -> str:
    """Copy an ONNX file with one float initializer (as ``perturb_initializer`` picks it) multiplied by
    ``factor``: a fault that scales with the weights, whatever their magnitude."""

    def scale(values: np.ndarray) -> None:
        values *= np.float32(factor)

    return _edit_initializer(source, target, name_hint, scale)
