"""exporter_signature: what torch.onnx.export accepts in this torch (``harness.checks.probes``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.checks.registry import Outcome, check

if TYPE_CHECKING:
    from harness.checks.context import ModelContext


@check("exporter_signature", stage="probe",
       meaning="torch.onnx.export's signature on torch {torch} no longer matches the expectation "
       "(the `dynamo` keyword or its default changed): revisit how the converter calls the exporter")
def exporter_signature(ctx: ModelContext) -> Outcome:
    """Unknown keywords must raise TypeError: the legacy strategy's fallback relies on it."""
    sig = ctx.cell.signature()
    swallowed = sig.unknown_keyword != "rejected"
    error = None
    if swallowed:
        error = (f"torch.onnx.export did not reject an unknown keyword ({sig.unknown_keyword}): "
                 "a TypeError-based fallback cannot tell a missing keyword")
    return Outcome(not swallowed, error=error, root_cause=sig.unknown_keyword_error if swallowed else None,
                   detail=sig.to_detail(), warnings=sig.warnings, seconds=round(sig.seconds, 3))
