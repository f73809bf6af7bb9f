"""The converter's export strategies, judged from their ``ExportRecord`` (``converter.exporting``).

Nothing here exports: the records come from ``converter.convert`` on the golden checkpoint, every
strategy run once per cell by the context.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from converter.errors import AlogError
from harness.checks import probes
from harness.checks.registry import Outcome, check

if TYPE_CHECKING:
    from harness.checks.context import ModelContext
    from harness.checks.models import ModelUnderTest

# What a record's attempts carry elsewhere in the check result (warnings) or too long for a detail (output).
_ATTEMPT_KEYS_KEPT_APART = ("warnings", "output")


def record_detail(record) -> dict[str, Any]:
    """The export record as a check's detail: what was asked, what produced the file and why, each attempt."""
    data = record.to_dict()
    detail = {k: data[k] for k in ("strategy", "exporter", "reason", "opset", "inputs", "outputs", "op_types",
                                   "tolerance")}
    detail["attempts"] = [{k: (round(v, 3) if k == "seconds" else v) for k, v in attempt.items()
                           if k not in _ATTEMPT_KEYS_KEPT_APART} for attempt in data["attempts"]]
    return detail


def export_failure(record) -> Outcome:
    last = record.attempts[-1] if record.attempts else None
    return Outcome(False, error=f"{last.exporter} {last.outcome}: {last.error}" if last else "no attempt ran",
                   root_cause=last.root_cause if last else None, detail=record_detail(record),
                   warnings=record.warnings, seconds=round(record.seconds, 3))


def record_of(mut: ModelUnderTest, strategy: str):
    record = mut.records.get(strategy)
    if record is None:
        raise AlogError(mut.errors.get(strategy, f"the {strategy} strategy was not run (not in [defaults].strategies)"))
    return record


def strategy_export(mut: ModelUnderTest, strategy: str, with_call: bool = False) -> Outcome:
    """The strategy produced an artifact that passed the converter's verification."""
    record = record_of(mut, strategy)
    if not record.ok:
        return export_failure(record)
    final = record.attempts[-1]
    detail = record_detail(record)
    if with_call:
        detail["call"] = final.call
    return Outcome(True, detail=detail, figures={"seconds": round(record.seconds, 3), **final.parity},
                   warnings=record.warnings, seconds=round(record.seconds, 3))


@check("legacy_export", stage="export", strategy="legacy",
       meaning="the TorchScript (legacy) export now succeeds for {model} on torch {torch}: "
       "the legacy fallback works there again")
def legacy_export(ctx: ModelContext) -> Outcome:
    return strategy_export(ctx.exported(), "legacy", with_call=True)


@check("typeerror_fallback", stage="export", strategy="legacy",
       meaning="the TypeError fallback now behaves as intended for {model} on torch {torch}: "
       "the retry without the `dynamo` keyword is no longer broken there")
def typeerror_fallback(ctx: ModelContext) -> Outcome:
    """The retry without ``dynamo=`` must happen exactly when this torch lacks the keyword."""
    record = record_of(ctx.exported(), "legacy")
    keyword = bool(record.exporter_signature.get("dynamo_keyword"))
    retried = any(a.typeerror_retry for a in record.attempts)
    detail: dict[str, Any] = {"dynamo_keyword": keyword, "typeerror_retry": retried,
                              "call": record.attempts[-1].call if record.attempts else None}
    if not record.ok:
        return Outcome(False, detail=detail, error=f"legacy export failed: {record.attempts[-1].error}",
                       root_cause=record.attempts[-1].root_cause)
    consistent = retried == (not keyword)
    error = None if consistent else (
        "retried without dynamo= although torch accepts it" if retried else "no retry although torch lacks dynamo=")
    detail["verdict"] = ("TypeError on dynamo=False, retried without it" if retried
                         else "dynamo=False accepted, no retry needed")
    return Outcome(consistent, error=error, detail=detail)


def classify_dynamo(record) -> tuple[str, str | None]:
    """One line for the dynamo strategy's outcome: no keyword / exception at a stage / frozen / ok."""
    attempt = record.attempts[0] if record.attempts else None
    if attempt is None:
        return "not attempted", "the dynamo strategy made no attempt"
    if attempt.outcome == "ok":
        return "ok", None
    if attempt.outcome == "no_keyword":
        return "no keyword", attempt.error
    if attempt.outcome == "exception":
        return "exception", f"exception during {attempt.stage or 'export'}: {attempt.root_cause or attempt.error}"
    if attempt.outcome == "frozen_axes":
        return "exported, axes frozen", f"{attempt.error} (graph inputs: {attempt.inputs})"
    if attempt.outcome == "parity_failed":
        return "exported, parity failed", attempt.error
    return attempt.outcome, attempt.error


def _dynamo_export_function_available(ctx: ModelContext) -> bool:
    try:
        return bool(ctx.cell.signature().dynamo_export_function)
    except Exception:  # noqa: BLE001 - the probe's own check records why it failed
        return False


@check("dynamo_export", stage="export", strategy="dynamo",
       meaning="dynamo export now succeeds for {model} on torch {torch}: "
       "the TorchScript fallback may no longer be needed there")
def dynamo_export(ctx: ModelContext) -> Outcome:
    mut = ctx.exported()
    record = record_of(mut, "dynamo")
    classification, message = classify_dynamo(record)
    detail = {**record_detail(record), "classification": classification}
    if classification == "no keyword" and _dynamo_export_function_available(ctx):
        # torch 2.0-2.3: the only dynamo route is torch.onnx.dynamo_export; record what it does.
        detail["torch.onnx.dynamo_export"] = probes.dynamo_export_function(
            mut.torch_model, mut.spec.make_input(*mut.spec.export_shape, 0),
            ctx.work / "probe" / f"{mut.name}_dynamo_export.onnx")
    attempt = record.attempts[0] if record.attempts else None
    return Outcome(classification == "ok", error=message, root_cause=attempt.root_cause if attempt else None,
                   detail=detail, figures=dict(attempt.parity) if attempt else {}, warnings=record.warnings,
                   seconds=round(record.seconds, 3))


@check("auto_export", stage="export", strategy="auto",
       meaning="the auto strategy now succeeds for {model} on torch {torch}: "
       "its verified dynamo-first export (or its fallback) works there now")
def auto_export(ctx: ModelContext) -> Outcome:
    return strategy_export(ctx.exported(), "auto")
