"""default_call: a user's bare ``torch.onnx.export(model, args, f, dynamic_axes=...)`` (``harness.checks.probes``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.checks import probes
from harness.checks.registry import Outcome, check

if TYPE_CHECKING:
    from harness.checks.context import ModelContext


@check("default_call", stage="default_call",
       meaning="the default torch.onnx.export call now succeeds for {model} on torch {torch}: "
       "users who call the exporter without options may no longer hit the recorded failure")
def default_call(ctx: ModelContext) -> Outcome:
    """It exports, the input axes stay symbolic, and ONNX Runtime runs another shape."""
    mut = ctx.loaded()
    spec = mut.spec
    batch, length = spec.export_shape
    example = spec.make_input(batch, length, 0)
    other = spec.make_input(3, (length + 5) if length else None, 1)
    probe = probes.default_call(mut.torch_model, example, spec.input_name, spec.output_name, dict(spec.input_axes),
                                other, ctx.work / "probe" / f"{mut.name}_default_call.onnx")
    mut.default_call = probe
    messages = {
        "exception": f"{probe.exporter} exporter raised {probe.error_type}: {probe.error}",
        "frozen": f"{probe.exporter} exporter froze axes {probe.frozen_axes} (input dims {probe.input_dims})",
        "rejected_by_ort": f"ONNX Runtime refused shape {probe.other_shape}: {probe.other_shape_result}",
    }
    return Outcome(probe.outcome == "ok", error=messages.get(probe.outcome), root_cause=probe.root_cause,
                   detail=probe.to_detail(), warnings=probe.warnings, seconds=round(probe.seconds, 3))
