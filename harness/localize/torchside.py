"""The PyTorch side of localizing: each module's output (its first call) captured with forward hooks, and
set against the ONNX values of the nodes exported from that module (``graph.Node.scope``).

A module agrees when one of its nodes' values has its output's shape and agrees within the tolerance
policy, differs when such values exist and none agrees, and has no mapping when no node of its scope
gives a value of that shape (then nothing is guessed).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from converter.compare import Comparison, Tolerance, compare
from converter.errors import AlogError
from harness.localize.graph import Node

if TYPE_CHECKING:
    from harness.config.models import ModelEntry

# Share of a checkpoint's parameter values that must be found among the model's initializers. Exporters
# reorder, transpose and concatenate weights (LSTM gates) but keep their values; a checkpoint of another
# training (another hidden size, another seed) shares almost none.
MATCH_SHARE = 0.5

# The ONNX op a module's own work is exported as: the node the localizer names for a module.
PRINCIPAL_OPS = {"Embedding": ("Gather",), "LSTM": ("LSTM",), "GRU": ("GRU",), "Linear": ("Gemm", "MatMul"),
                 "Conv2d": ("Conv",), "ConvTranspose2d": ("ConvTranspose",), "SELU": ("Selu",),
                 "ConvLSTMCell": ("Conv",)}


@dataclass
class ModuleCall:
    path: tuple[str, ...]
    kind: str  # the module's class name
    output: Any  # numpy array of its (first) output tensor


def parameter_share(model: Any, proto: Any) -> float:
    """The share of ``model``'s floating-point parameter and buffer values found among ``proto``'s initializers."""
    import numpy as np
    from onnx import numpy_helper

    arrays = [numpy_helper.to_array(t) for t in proto.graph.initializer]
    known = np.unique(np.concatenate([a.ravel().astype(np.float32) for a in arrays if a.dtype.kind == "f"] or
                                     [np.empty(0, np.float32)]))
    params = [t.detach().cpu().numpy().ravel().astype(np.float32) for t in model.state_dict().values()
              if t.is_floating_point()]
    if not params:
        return 0.0
    mine = np.concatenate(params)
    return float(np.isin(mine, known).mean()) if mine.size else 0.0


def load_model(checkpoint: Path, kind: str, hub: ModelEntry | None = None) -> Any:
    """The PyTorch model of ``checkpoint``: an alog-detect checkpoint of ``kind``, or, for a hub entry of the
    matrix, the state_dict its hubconf.py's model is given (foreign modules keep their own scope names)."""
    if hub is not None:
        from converter import hub as hubs

        return hubs.load(hub.hub_entry(checkpoint)).module
    from converter import checkpoint as checkpoints

    model, _ = checkpoints.load(checkpoint, kind)
    return model


def load_matching(checkpoint: Path, kind: str | None, proto: Any, hub: ModelEntry | None = None) -> Any:
    """The checkpoint's model when it is the one ``proto`` was exported from; else one line, before any diagnosis."""
    if kind is None and hub is None:
        raise AlogError("--checkpoint: cannot tell which model --model is (no meta.json beside it, and its graph "
                        "is neither DeepLog's nor MSCRED's), so no checkpoint can be set against it")
    model = load_model(checkpoint, kind or "", hub)
    share = parameter_share(model, proto)
    if share < MATCH_SHARE:
        raise AlogError(f"--checkpoint {checkpoint} is not the checkpoint the model was exported from: {share:.0%} "
                        f"of its parameter values are among the model's initializers (at least {MATCH_SHARE:.0%} "
                        "expected)")
    return model


def module_outputs(model, x: Any) -> list[ModuleCall]:
    """Every submodule's first call, in the order the calls finished (children before their parents)."""
    import numpy as np
    import torch

    calls: list[ModuleCall] = []
    seen: set[tuple[str, ...]] = set()
    hooks = []

    def hook_for(path: tuple[str, ...]):
        def hook(module, _inputs, output):
            if path in seen:
                return
            tensor = output[0] if isinstance(output, (tuple, list)) else output
            while isinstance(tensor, (tuple, list)):
                tensor = tensor[0]
            if isinstance(tensor, torch.Tensor):
                seen.add(path)
                calls.append(ModuleCall(path, type(module).__name__, tensor.detach().cpu().numpy()))
        return hook

    for name, module in model.named_modules():
        if name:
            hooks.append(module.register_forward_hook(hook_for(tuple(name.split(".")))))
    try:
        with torch.inference_mode():
            model(torch.from_numpy(np.ascontiguousarray(x)))
    finally:
        for handle in hooks:
            handle.remove()
    return calls


def first_run(nodes: list[Node], path: tuple[str, ...]) -> list[Node]:
    """The nodes of the module's first call: the first contiguous run of its scope in topological order
    (Constant nodes in between do not break a run)."""
    run: list[Node] = []
    for node in nodes:
        inside = node.scope[:len(path)] == path
        if inside:
            run.append(node)
        elif run and node.op_type != "Constant":
            break
    return run


@dataclass
class ModuleVerdict:
    call: ModuleCall
    state: str  # agrees | differs | unmapped
    node: Node | None  # the principal node (or the best candidate) of the module's first run
    comparison: Comparison | None  # the closest candidate's


def judge_modules(calls: list[ModuleCall], nodes: list[Node], values: dict[str, Any],
                  tolerance: Tolerance) -> list[ModuleVerdict]:
    verdicts = []
    for call in calls:
        run = first_run(nodes, call.path)
        candidates = [(node, value) for node in run for value in node.outputs
                      if value in values and getattr(values[value], "shape", None) == call.output.shape]
        if not candidates:
            verdicts.append(ModuleVerdict(call, "unmapped", None, None))
            continue
        scored = [(node, compare(call.output, values[value], tolerance, value)) for node, value in candidates]
        best_node, best = min(scored, key=lambda s: s[1].max_abs_error)
        principal = next((n for n in run if n.op_type in PRINCIPAL_OPS.get(call.kind, ())), best_node)
        verdicts.append(ModuleVerdict(call, "agrees" if best else "differs", principal, best))
    return verdicts
