"""What an ONNX file says about itself: opset, input/output dims (symbolic or fixed), op types."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import onnx


def _dims(value_info) -> list[Any]:
    # A symbolic dim is its name (str); a fixed one its size (int); an unknown one None.
    dims = []
    for d in value_info.type.tensor_type.shape.dim:
        if d.HasField("dim_param"):
            dims.append(d.dim_param)
        elif d.HasField("dim_value"):
            dims.append(int(d.dim_value))
        else:
            dims.append(None)
    return dims


def describe(model: onnx.ModelProto | str | Path) -> dict[str, Any]:
    if not isinstance(model, onnx.ModelProto):
        model = onnx.load(str(model), load_external_data=False)
    initializers = {init.name for init in model.graph.initializer}
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    return {
        "opset": opset,
        "ir_version": int(model.ir_version),
        "inputs": {i.name: _dims(i) for i in model.graph.input if i.name not in initializers},
        "outputs": {o.name: _dims(o) for o in model.graph.output},
        "op_types": dict(sorted(Counter(n.op_type for n in model.graph.node).items())),
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
    }


def frozen_axes(info: dict[str, Any], input_name: str, dynamic_axes: dict[int, str]) -> dict[str, int | None]:
    """Axes meant to be dynamic that came out fixed: {"sequence": 10}."""
    dims = info["inputs"].get(input_name)
    if dims is None:
        return {name: None for name in dynamic_axes.values()}
    return {
        name: dims[axis] if axis < len(dims) else None
        for axis, name in dynamic_axes.items()
        if axis >= len(dims) or not isinstance(dims[axis], str)
    }
