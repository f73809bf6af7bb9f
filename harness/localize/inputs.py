"""What the localizer is given, checked before anything runs: the model (one file the user names, with its
external data inside its own folder), the input (one array the model takes) and the model's kind.

Every refusal is an ``AlogError``: one line, exit 2. Nothing here reads a file outside the model's folder,
and nothing is allocated from a size the model declares before that size is bounded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from converter import artifacts
from converter.errors import AlogError, describe

# Initializer elements in one model: 1 GiB of float32, four orders of magnitude above either artifact.
MAX_ELEMENTS = 2**28
# Domains ONNX Runtime and onnx know without a custom-op library (a model's own functions add theirs).
KNOWN_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "com.microsoft"})


@dataclass(frozen=True)
class Subject:
    """A model the localizer can take: its one data input and, when known, its kind."""

    path: Path
    proto: Any  # onnx.ModelProto, without its external data
    data_input: str
    dtype: Any  # numpy dtype of the data input
    dims: tuple[int | None, ...]
    kind: str | None  # "deeplog" / "mscred" from meta.json or the graph; None for any other model


def _tensors(proto: Any) -> list[Any]:
    """Initializers and Constant nodes' tensors (of the graph and its subgraphs): what a model declares."""
    from onnx import AttributeProto

    found = []
    stack = [proto.graph]
    while stack:
        graph = stack.pop()
        found.extend(graph.initializer)
        for node in graph.node:
            for attr in node.attribute:
                if attr.type == AttributeProto.TENSOR:
                    found.append(attr.t)
                stack.extend([attr.g] if attr.type == AttributeProto.GRAPH else list(attr.graphs))
    return found


def _check_external(path: Path, proto: Any) -> None:
    """External data must be a file inside the model's folder: a path out of it is refused, nothing read."""
    from onnx import TensorProto

    folder = path.resolve().parent
    for tensor in _tensors(proto):
        if tensor.data_location != TensorProto.EXTERNAL:
            continue
        location = {e.key: e.value for e in tensor.external_data}.get("location", "")
        target = (folder / location).resolve()
        if not location or Path(location).is_absolute() or not target.is_relative_to(folder):
            raise AlogError(f"--model {path}: the external data of {tensor.name!r} points outside the model's "
                            f"folder ({location!r}); refused, nothing read")
        if not target.is_file():
            raise AlogError(f"--model {path}: the external data of {tensor.name!r} ({location}) is not a file "
                            "beside the model")


def _check_sizes(path: Path, proto: Any) -> None:
    total = 0
    for tensor in _tensors(proto):
        elements = 1
        for dim in tensor.dims:
            if dim < 0:
                raise AlogError(f"--model {path}: tensor {tensor.name!r} has a negative dimension {list(tensor.dims)}")
            elements *= dim
        total += elements
        if total > MAX_ELEMENTS:
            raise AlogError(f"--model {path}: its tensors declare more than {MAX_ELEMENTS:,} elements "
                            f"({tensor.name!r} alone {elements:,}); the localizer keeps every value in memory")


def _check_order(path: Path, proto: Any) -> None:
    """Every node reads only values computed before it: a cycle or a dangling value is one line."""
    known = {i.name for i in proto.graph.input} | {t.name for t in proto.graph.initializer} | {""}
    for node in proto.graph.node:
        missing = [v for v in node.input if v not in known]
        if missing:
            raise AlogError(f"--model {path}: node {node.name or node.op_type!r} reads {missing[0]!r} before "
                            "anything computes it (a cycle, or nodes out of topological order)")
        known.update(node.output)


def _check_domains(path: Path, proto: Any) -> None:
    known = KNOWN_DOMAINS | {f.domain for f in proto.functions}
    custom = sorted({f"{n.domain}.{n.op_type}" for n in proto.graph.node if n.domain not in known})
    if custom:
        raise AlogError(f"--model {path}: cannot compare: custom-domain op(s) {', '.join(custom[:3])}, which neither "
                        "ONNX Runtime nor onnx's reference evaluator implements without their library")


def _tensor_type(value: Any) -> str:
    """``tensor(float)``, ``seq(...)``, ``optional(...)``: how ONNX Runtime names a value's type."""
    from onnx import helper

    kind = value.type.WhichOneof("value")
    if kind != "tensor_type":
        return {"sequence_type": "sequence", "optional_type": "optional", "map_type": "map"}.get(kind or "", "unknown")
    return f"tensor({helper.tensor_dtype_to_string(value.type.tensor_type.elem_type).removeprefix('TensorProto.')})"


def numpy_dtype(value: Any) -> Any:
    """The numpy dtype of a tensor value numpy computes with, else None (bfloat16, float8, int4, strings...)."""
    import numpy as np
    from onnx import helper

    if value.type.WhichOneof("value") != "tensor_type":
        return None
    try:
        dtype = np.dtype(helper.tensor_dtype_to_np_dtype(value.type.tensor_type.elem_type))
    except (KeyError, TypeError, ValueError):
        return None
    return dtype if dtype.kind in "biuf" else None


def model_kind(path: Path, proto: Any, data_input: Any) -> str | None:
    """deeplog / mscred: the artifact's meta.json says; without one, the graph's input does (ids into a Gather,
    or 5-D signature matrices); else None. Never the input's name."""
    from onnx import TensorProto

    meta = artifacts.meta_path(path)
    if meta.is_file():
        try:
            kind = json.loads(meta.read_text(encoding="utf-8")).get("model_type")
        except (OSError, UnicodeDecodeError, ValueError, AttributeError):
            kind = None
        if kind in artifacts.INTERFACES.values():
            return str(kind)
    tensor = data_input.type.tensor_type
    rank = len(tensor.shape.dim)
    gathers = any(n.op_type == "Gather" and len(n.input) > 1 and n.input[1] == data_input.name
                  for n in proto.graph.node)
    if rank == 2 and tensor.elem_type == TensorProto.INT64 and gathers:  # ids [batch, sequence] into an embedding
        return "deeplog"
    if rank == 5 and tensor.elem_type == TensorProto.FLOAT:  # [batch, step, scales, sensors, sensors]
        return "mscred"
    return None


def check_model(path: Path) -> Subject:
    """The model file as the localizer can take it, or one line saying why not."""
    import onnx

    if not path.is_file():
        raise AlogError(f"--model {path}: " + ("no such file" if not path.exists() else "not a file"))
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - protobuf fails in many ways on a foreign file
        raise AlogError(f"--model {path} is not an ONNX model ({describe(exc)})") from None
    if not proto.graph.node:
        raise AlogError(f"--model {path} has an empty graph (no nodes): nothing to localize")
    _check_external(path, proto)
    _check_sizes(path, proto)
    _check_order(path, proto)
    _check_domains(path, proto)
    try:
        onnx.checker.check_model(proto)
    except Exception as exc:  # noqa: BLE001 - the checker's own classes vary across onnx versions
        raise AlogError(f"--model {path} is not a valid ONNX model ({describe(exc)})") from None
    initializers = {t.name for t in proto.graph.initializer}
    data = [i for i in proto.graph.input if i.name not in initializers]
    if len(data) != 1:
        names = ", ".join(i.name for i in data)
        raise AlogError(f"--model {path} has {len(data)} data inputs{f' ({names})' if names else ''}; "
                        "the localizer takes a model with one")
    for value, what in [(data[0], "its input"), *((o, "its output") for o in proto.graph.output)]:
        if numpy_dtype(value) is None:
            raise AlogError(f"--model {path}: cannot compare: {what} {value.name!r} is {_tensor_type(value)}, "
                            "not a tensor numpy computes with")
    dims = tuple(d.dim_value if d.HasField("dim_value") else None for d in data[0].type.tensor_type.shape.dim)
    return Subject(path, proto, data[0].name, numpy_dtype(data[0]), dims, model_kind(path, proto, data[0]))


def check_input(subject: Subject, x: Any, flag: str = "--input") -> None:
    """The array fits the data input: dtype, rank, fixed dims, some elements, ids inside the embeddings."""
    dims = subject.dims
    fixed_differ = x.ndim == len(dims) and any(d is not None and d != n for d, n in zip(dims, x.shape, strict=True))
    if x.dtype != subject.dtype or x.ndim != len(dims) or fixed_differ:
        shown = ["?" if d is None else d for d in dims]
        raise AlogError(f"{flag} is {x.dtype} {list(x.shape)}; the model takes {subject.dtype} {shown}")
    if x.size == 0:
        raise AlogError(f"{flag} has no elements (shape {list(x.shape)}): an empty batch or sequence has nothing "
                        "to localize")
    if x.dtype.kind not in "iu":
        return
    sizes = {t.name: list(t.dims) for t in subject.proto.graph.initializer}
    for node in subject.proto.graph.node:  # ids into an embedding table: inside it, as PyTorch requires
        if node.op_type != "Gather" or len(node.input) < 2 or node.input[1] != subject.data_input:
            continue
        axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
        table = sizes.get(node.input[0])
        if not table or not -len(table) <= axis < len(table):
            continue
        rows = table[axis]
        low = 0 if subject.kind == "deeplog" else -rows
        if int(x.min()) < low or int(x.max()) >= rows:
            raise AlogError(f"{flag} holds token ids from {int(x.min())} to {int(x.max())}; the model's embedding "
                            f"{node.input[0]!r} takes {low} to {rows - 1}")


def read_input(subject: Subject, input_path: Path) -> Any:
    """The input as an array the model takes, or one clear line saying why not (never a traceback)."""
    import numpy as np

    if not input_path.is_file():
        raise AlogError(f"--input {input_path}: " + ("no such file" if not input_path.exists() else "not a file"))
    try:
        x = np.load(input_path, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - truncated, pickled or foreign files
        raise AlogError(f"--input {input_path} is not a NumPy .npy array ({describe(exc)})") from None
    if not isinstance(x, np.ndarray):
        x.close()
        raise AlogError(f"--input {input_path} is an archive of arrays; give one .npy array")
    check_input(subject, x, f"--input {input_path}")
    return x
