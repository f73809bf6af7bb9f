"""Every value of a marked model (``graph.mark_all``) for one input, in ONNX Runtime at one level; needs only
onnxruntime and numpy, so it runs in any runtime's venv:

    python -m harness.localize --model marked.onnx --input x.npy --opt-level all --out values.npz

Only tensors numpy computes with are taken: a bfloat16, float8 or int4 tensor, a sequence or an optional is
left out (``skipped``), never compared as raw bytes or flattened.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from converter.errors import AlogError, first_line

COMPARABLE = frozenset(f"tensor({t})" for t in ("float", "double", "float16", "int8", "int16", "int32", "int64",
                                                 "uint8", "uint16", "uint32", "uint64", "bool"))

# onnx.reference kernels that do not follow inference semantics: (op, first opset that does) -> why. Such a node
# is judged against ONNX Runtime instead (its outputs are taken from there, so what follows is compared fairly).
REFERENCE_DEVIATIONS = {
    ("BatchNormalization", 14): "onnx.reference's BatchNormalization before opset 14 takes the training-mode path "
                                "(batch statistics) when the node has a momentum attribute",
}


def quiet_runtime() -> None:
    """ONNX Runtime's own log (coloured, several lines) stays off stderr unless ALOG_DEBUG=1: the localizer's
    answer or refusal is one line."""
    import onnxruntime as ort

    if os.environ.get("ALOG_DEBUG") != "1":
        ort.set_default_logger_severity(4)


def ort_values(marked: Path, x: Any, opt_level: str, skipped: dict[str, str] | None = None) -> dict[str, Any]:
    """name -> array, for every output of the marked model numpy computes with; the others go into ``skipped``
    (name -> type) when given."""
    from converter.ortsession import ort_session

    quiet_runtime()
    try:
        session = ort_session(marked, opt_level=opt_level)
    except AlogError:
        raise
    except Exception as exc:  # noqa: BLE001 - NOT_IMPLEMENTED, INVALID_GRAPH, ...: the model, not the localizer
        raise AlogError(f"cannot compare: ONNX Runtime cannot load the model ({first_line(exc, 300)})") from None
    names = [o.name for o in session.get_outputs() if o.type in COMPARABLE]
    if skipped is not None:
        skipped.update({o.name: o.type for o in session.get_outputs() if o.type not in COMPARABLE})
    feed = {session.get_inputs()[0].name: x}  # ONNX Runtime lists no initializer among its inputs
    import onnxruntime as ort

    run_options = ort.RunOptions()
    if os.environ.get("ALOG_DEBUG") != "1":  # a failing kernel's error log: the line below says it once
        run_options.log_severity_level = 4
    try:
        return dict(zip(names, session.run(names, feed, run_options), strict=True))
    except Exception as exc:  # noqa: BLE001 - a run failure on this input is the model's or the input's
        raise AlogError(f"ONNX Runtime could not run the model on this input ({first_line(exc, 300)})") from None


def data_input(model: Any) -> str:
    """The one graph input that is not an initializer (initializers may be listed as inputs, before it)."""
    initializers = {t.name for t in model.graph.initializer}
    return next(i.name for i in model.graph.input if i.name not in initializers)


def deviating_nodes(model: Any) -> list[dict[str, str]]:
    """The nodes onnx.reference would judge by other semantics than inference (``REFERENCE_DEVIATIONS``)."""
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    found = []
    for node in model.graph.node:
        for (op, fixed_in), why in REFERENCE_DEVIATIONS.items():
            if node.op_type == op and node.domain in ("", "ai.onnx") and opset < fixed_in:
                found.append({"node": node.name or node.op_type, "op_type": op, "why": why})
    return found


def reference_values(marked: Path, x: Any, names: list[str], runtime: dict[str, Any]) -> dict[str, Any]:
    """The values ``names`` from onnx's reference evaluator (plain numpy kernels: no optimizer, no fused ops);
    a node of ``REFERENCE_DEVIATIONS`` gives ``runtime``'s values instead."""
    import onnx
    from onnx.reference import ReferenceEvaluator
    from onnx.reference.op_run import OpRun

    model = onnx.load(str(marked))
    overrides = []
    for op in sorted({d["op_type"] for d in deviating_nodes(model)}):
        def _run(self: OpRun, *inputs: Any, **_attributes: Any) -> tuple[Any, ...]:
            outputs = [o for o in self.onnx_node.output if o]
            if not all(o in runtime for o in outputs):
                raise AlogError(f"{self.onnx_node.op_type} {self.onnx_node.name!r} is judged against ONNX Runtime, "
                                "which gave no value for it")
            return tuple(runtime[o] for o in outputs)

        overrides.append(type(op, (OpRun,), {"op_domain": "", "_run": _run}))
    evaluator = ReferenceEvaluator(model, new_ops=overrides or None)
    return dict(zip(names, evaluator.run(names, {data_input(model): x}), strict=True))


def read_values(path: Path) -> dict[str, Any]:
    import numpy as np

    with np.load(path) as data:
        names = [str(n) for n in data["names"]]
        return {name: data[f"v{i}"] for i, name in enumerate(names)}
