"""The smallest piece of a graph that shows a divergence on its own, for a repro bundle: the first diverging
node alone (for an exporter divergence, the nodes of its module that compute the value compared with
PyTorch), with the values its inputs had in the run as graph inputs, its weights and constants as they are,
and the reference side's values as the outputs it should give."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import onnx
from onnx import helper

from harness.localize.graph import Node


@dataclass
class Piece:
    model: onnx.ModelProto
    feeds: dict[str, Any]  # graph input -> its recorded value
    expected: dict[str, Any]  # graph output -> the reference side's value
    nodes: tuple[str, ...]  # the names of the nodes it holds (Constant nodes it needs aside)
    level: str  # the optimization level it is run at (the level of the comparison that diverged)


def _used(node: onnx.NodeProto) -> list[str]:
    """Every value a node reads, with the outer values its subgraph attributes (Loop, Scan, If) read."""
    names = [name for name in node.input if name]
    for attr in node.attribute:
        for body in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
            inner = ({o for n in body.node for o in n.output} | {i.name for i in body.input}
                     | {t.name for t in body.initializer})
            names += [name for n in body.node for name in _used(n) if name not in inner]
    return names


def closure(nodes: list[Node], target: str, within: list[Node]) -> list[int]:
    """Indices of the nodes of ``within`` that ``target`` is computed from, in graph order."""
    allowed = {n.index for n in within}
    producer = {o: n for n in nodes for o in n.outputs}
    chosen: set[int] = set()
    wanted = [target]
    while wanted:
        node = producer.get(wanted.pop())
        if node is None or node.index not in allowed or node.index in chosen:
            continue
        chosen.add(node.index)
        wanted += [name for name in node.inputs if name]
    return sorted(chosen)


def extract(proto: onnx.ModelProto, chosen: list[int], recorded: dict[str, Any],
            expected: dict[str, Any]) -> tuple[onnx.ModelProto, dict[str, Any]]:
    """A model of the nodes ``chosen`` (indices into ``proto.graph.node``): a value they read from outside is an
    initializer or a Constant node's output kept as it is, else a graph input fed its ``recorded`` value."""
    all_nodes = list(proto.graph.node)
    initializers = {t.name: t for t in proto.graph.initializer}
    producer = {o: i for i, n in enumerate(all_nodes) for o in n.output}
    inside = set(chosen)
    made = {o for i in chosen for o in all_nodes[i].output}
    inputs: list[onnx.ValueInfoProto] = []
    kept: list[onnx.TensorProto] = []
    feeds: dict[str, Any] = {}
    for name in dict.fromkeys(name for i in chosen for name in _used(all_nodes[i])):
        if name in made:
            continue
        if name in initializers:
            kept.append(initializers[name])
        elif name in producer and all_nodes[producer[name]].op_type == "Constant":
            inside.add(producer[name])
        elif name in recorded:
            value = recorded[name]
            inputs.append(helper.make_tensor_value_info(
                name, helper.np_dtype_to_tensor_dtype(value.dtype), list(value.shape)))
            feeds[name] = value
        else:
            raise ValueError(f"no recorded value for {name}, an input of the piece")
    outputs = [helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(value.dtype), None)
               for name, value in expected.items()]
    body = helper.make_graph([all_nodes[i] for i in sorted(inside)], "diverging_piece", inputs, outputs,
                             initializer=kept)
    model = helper.make_model(body, opset_imports=list(proto.opset_import), producer_name="alog-detect repro")
    model.ir_version = proto.ir_version  # the artifact's: a runtime that reads it reads the piece
    model.functions.extend(proto.functions)  # dynamo exports call local functions
    return model, feeds
