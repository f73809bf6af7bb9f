"""The ONNX side of localizing: a copy of a model with every intermediate value exposed as an output (as
Polygraphy's "mark all" does), the nodes in topological order, and the PyTorch module each node was
exported from, read from the names both exporters leave (TorchScript's ``/lstm/LSTM`` scopes, the dynamo
exporter's ``pkg.torch.onnx.name_scopes`` metadata)."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import onnx
from onnx import shape_inference

NAME_SCOPES = "pkg.torch.onnx.name_scopes"


@dataclass(frozen=True)
class Node:
    index: int  # position in topological order (the graph's own order, which ONNX requires to be one)
    name: str
    op_type: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    scope: tuple[str, ...]  # the module path it came from ("lstm",), () for the model itself


def _scope(node: onnx.NodeProto) -> tuple[str, ...]:
    meta = {p.key: p.value for p in node.metadata_props}
    if NAME_SCOPES in meta:  # dynamo: ['', 'lstm', 'lstm'] -- the root, the modules, then the op itself
        try:
            names = ast.literal_eval(meta[NAME_SCOPES])
        except (ValueError, SyntaxError):
            return ()
        return tuple(n for n in names[1:-1] if n)
    if node.name.startswith("/"):  # TorchScript: /lstm/LSTM_1 -- module path segments, then the op
        return tuple(part for part in node.name.split("/")[1:-1] if part)
    return ()


def nodes_of(model: onnx.ModelProto) -> list[Node]:
    return [Node(i, n.name or f"{n.op_type}_{i}", n.op_type, tuple(n.input), tuple(n.output), _scope(n))
            for i, n in enumerate(model.graph.node)]


def constants(model: onnx.ModelProto) -> set[str]:
    """Values that are not computed from the graph's inputs: initializers and the outputs of Constant nodes."""
    names = {t.name for t in model.graph.initializer}
    names |= {o for n in model.graph.node if n.op_type == "Constant" for o in n.output}
    return names


def mark_all(model_path: Path, target: Path) -> list[str]:
    """Write ``target``: the model with every node output (but constants) a graph output; returns their names
    in topological order. Types come from shape inference where it knows them."""
    model = onnx.load(str(model_path))
    try:
        inferred = shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 - exposing values does not need shapes; ONNX Runtime finds them
        inferred = model
    known = {v.name: v for v in (*inferred.graph.value_info, *inferred.graph.output, *inferred.graph.input)}
    existing = {o.name for o in model.graph.output}
    skip = constants(model)
    names = []
    for node in model.graph.node:
        for value in node.output:
            if not value or value in skip:
                continue
            names.append(value)
            if value not in existing:
                model.graph.output.append(known.get(value) or onnx.ValueInfoProto(name=value))
                existing.add(value)
    onnx.save(model, str(target))
    return names
