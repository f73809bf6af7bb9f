"""Probes of raw torch behaviour: what ``torch.onnx.export`` itself does in this environment.

These do not go through the converter: they record what a *user's* call would meet, so that the
report can say why the converter's strategies are needed. Export logic proper lives in
``converter.exporting``; here we only look.
"""

from __future__ import annotations

import contextlib
import io
import time
import traceback
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from converter.errors import describe, first_line, root_cause

BOGUS_KEYWORD = "alog_probe_unknown_keyword"
DYNAMO_STDOUT_MARKER = "[torch.onnx]"  # the dynamo exporter narrates its stages on stdout


def warning_records(caught: list[warnings.WarningMessage]) -> list[dict[str, str]]:
    """Warnings as {"category", "message"}, each distinct one once, in order of first appearance."""
    out, seen = [], set()
    for w in caught:
        key = (w.category.__name__, str(w.message).strip())
        if key not in seen:
            seen.add(key)
            out.append({"category": key[0], "message": key[1][:1000]})
    return out


@contextlib.contextmanager
def capture():
    """Record warnings (all of them, every time) and stdout of the block."""
    out = io.StringIO()
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(out):
        warnings.simplefilter("always")
        yield caught, out


# --- exporter_signature ----------------------------------------------------------------------


@dataclass
class SignatureProbe:
    """The exporter's signature facts (``converter.exporting.exporter_signature``, the ones the strategies
    branch on) and what a call with an unknown keyword does."""

    facts: dict[str, Any]  # dynamo_keyword, dynamo_default, fallback_keyword, dynamic_shapes_keyword, ...
    unknown_keyword: str  # "rejected" (TypeError), "swallowed", or "error: ..."
    unknown_keyword_error: str | None
    dynamo_export_function: bool  # torch.onnx.dynamo_export exists (torch 2.0-2.x)
    parameters: list[str] = field(default_factory=list)
    warnings: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def default_exporter(self) -> str:
        return "dynamo" if self.facts.get("dynamo_default") is True else "torchscript"

    def to_detail(self) -> dict[str, Any]:
        return {**self.facts, "default_exporter": self.default_exporter, "unknown_keyword": self.unknown_keyword,
                "unknown_keyword_error": self.unknown_keyword_error,
                "dynamo_export_function": self.dynamo_export_function, "parameters": self.parameters}


def _tiny_model():
    """The smallest module that exports in every torch: a Linear layer."""
    import torch

    return torch.nn.Linear(3, 2).eval(), (torch.ones(1, 3),)


def exporter_signature(work: Path) -> SignatureProbe:
    """Read ``torch.onnx.export``'s signature and call it with an unknown keyword on a tiny model."""
    import inspect

    import torch

    from converter.exporting import exporter_signature as signature_facts

    start = time.perf_counter()
    facts = signature_facts()
    model, args = _tiny_model()
    keywords: dict[str, Any] = {"dynamo": False} if facts["dynamo_keyword"] else {}  # the fast exporter
    keywords[BOGUS_KEYWORD] = 1
    error = None
    with capture() as (caught, _):
        try:
            torch.onnx.export(model, args, str(work / "probe_unknown_keyword.onnx"), **keywords)
            verdict = "swallowed"
        except TypeError as exc:
            verdict, error = "rejected", first_line(exc)
        except Exception as exc:  # noqa: BLE001 - any other failure is itself the finding
            verdict, error = f"error: {type(exc).__name__}", root_cause(exc)
    return SignatureProbe(
        facts=facts,
        unknown_keyword=verdict,
        unknown_keyword_error=error,
        dynamo_export_function=hasattr(torch.onnx, "dynamo_export"),
        parameters=list(inspect.signature(torch.onnx.export).parameters),
        warnings=warning_records(caught),
        seconds=time.perf_counter() - start,
    )


# --- default_call ----------------------------------------------------------------------------


@dataclass
class DefaultCallProbe:
    exporter: str  # "dynamo", "torchscript" or "unknown"
    evidence: str
    outcome: str  # "ok", "frozen", "exception", "rejected_by_ort"
    error: str | None = None
    error_type: str | None = None
    root_cause: str | None = None
    input_dims: list[Any] = field(default_factory=list)  # ints for fixed axes, names for symbolic ones
    frozen_axes: list[int] = field(default_factory=list)  # axes asked dynamic that came out fixed
    opset: int | None = None
    other_shape: list[int] = field(default_factory=list)
    other_shape_result: str | None = None  # "ran" or the ORT error's first line
    warnings: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def to_detail(self) -> dict[str, Any]:
        detail = asdict(self)
        for key in ("warnings", "seconds", "error", "root_cause"):
            detail.pop(key)
        return detail


def default_call(model, example, input_name: str, output_name: str, dynamic_axes: dict[int, str],
                 other_input, onnx_path: Path) -> DefaultCallProbe:
    """A user's bare ``torch.onnx.export(model, args, f, dynamic_axes=...)``: no dynamo=, no opset.

    Which exporter ran is read from what it left behind: the dynamo exporter narrates on stdout and
    names nodes ``node_*``; TorchScript names them by module scope (``/lstm/LSTM``); on an
    exception, from the frames of the traceback.
    """
    import onnx
    import torch

    start = time.perf_counter()
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    onnx_path.unlink(missing_ok=True)
    with capture() as (caught, out):
        try:
            torch.onnx.export(
                model, (example,), str(onnx_path),
                input_names=[input_name], output_names=[output_name],
                dynamic_axes={input_name: dict(dynamic_axes), output_name: {0: dynamic_axes.get(0, "batch")}},
            )
            exc = None
        except Exception as caught_exc:  # noqa: BLE001 - the failure is the finding
            exc = caught_exc
    stdout = out.getvalue()
    probe = DefaultCallProbe(exporter="unknown", evidence="", outcome="ok", warnings=warning_records(caught))
    if exc is not None:
        probe.outcome = "exception"
        probe.error_type = type(exc).__name__
        probe.error = first_line(exc)
        probe.root_cause = root_cause(exc)
        probe.exporter, probe.evidence = _exporter_from_traceback(exc, stdout)
        probe.seconds = time.perf_counter() - start
        return probe

    proto = onnx.load(str(onnx_path))
    probe.exporter, probe.evidence = _exporter_from_artifact(proto, stdout)
    probe.opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    dims = graph_input_dims(proto, input_name)
    probe.input_dims = dims
    probe.frozen_axes = [axis for axis in dynamic_axes if axis < len(dims) and isinstance(dims[axis], int)]
    probe.other_shape = list(other_input.shape)
    probe.other_shape_result = run_at_shape(onnx_path, input_name, other_input)
    if probe.frozen_axes:
        probe.outcome = "frozen"
    elif probe.other_shape_result != "ran":
        probe.outcome = "rejected_by_ort"
    probe.seconds = time.perf_counter() - start
    return probe


def graph_input_dims(proto, input_name: str) -> list[Any]:
    """The declared dims of one graph input: an int when fixed, the symbol's name when dynamic."""
    for value in proto.graph.input:
        if value.name == input_name:
            return [d.dim_param if d.dim_param else (d.dim_value if d.HasField("dim_value") else "?")
                    for d in value.type.tensor_type.shape.dim]
    raise ValueError(f"the graph has no input named {input_name!r}")


def run_at_shape(onnx_path: Path, input_name: str, array) -> str:
    """Run the artifact in ONNX Runtime on one input: "ran" or the error's first line."""
    from converter.ortsession import ort_session

    try:
        session = ort_session(onnx_path)
        session.run(None, {input_name: array.numpy() if hasattr(array, "numpy") else array})
        return "ran"
    except Exception as exc:  # noqa: BLE001 - ORT's refusal is the finding
        return describe(exc)


def _exporter_from_artifact(proto, stdout: str) -> tuple[str, str]:
    names = [n.name for n in proto.graph.node]
    if DYNAMO_STDOUT_MARKER in stdout:
        return "dynamo", "the exporter printed its [torch.onnx] stages"
    if any(name.startswith("/") for name in names):
        return "torchscript", "node names carry TorchScript module scopes (/module/Op)"
    if names and all(name.startswith("node_") for name in names):
        return "dynamo", "node names are node_* (the dynamo exporter's naming)"
    return "unknown", "no marker in output or node names"


def _exporter_from_traceback(exc: BaseException, stdout: str) -> tuple[str, str]:
    files: list[str] = []
    cursor: BaseException | None = exc
    while cursor is not None and len(files) < 2000:
        files += [frame.filename for frame in traceback.extract_tb(cursor.__traceback__)]
        cursor = cursor.__cause__ or cursor.__context__
    joined = "\n".join(files)
    dynamo_paths = ("_internal/exporter", "torch/_dynamo", "torch/export")
    if DYNAMO_STDOUT_MARKER in stdout or any(p in joined for p in dynamo_paths):
        return "dynamo", "the traceback runs through torch.export / the dynamo exporter"
    if "torch/onnx/utils.py" in joined or "torch/jit" in joined:
        return "torchscript", "the traceback runs through torch.onnx.utils (TorchScript exporter)"
    return "unknown", "no exporter module in the traceback"


# --- torch.onnx.dynamo_export (torch 2.0-2.3: the dynamo route before the dynamo= keyword) ------


def dynamo_export_function(model, example, onnx_path: Path) -> dict[str, Any]:
    """Call ``torch.onnx.dynamo_export`` with dynamic shapes and say what came out."""
    import os

    import torch

    start = time.perf_counter()
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"outcome": "ok"}
    previous = os.getcwd()
    os.chdir(onnx_path.parent)  # it drops report_dynamo_export.sarif into the working directory
    try:
        with capture() as (caught, _):
            try:
                onnx_api: Any = torch.onnx  # dynamo_export and ExportOptions exist only in torch 2.0-2.x
                options = onnx_api.ExportOptions(dynamic_shapes=True)
                onnx_api.dynamo_export(model, example, export_options=options).save(str(onnx_path))
            except Exception as exc:  # noqa: BLE001 - the failure is the finding
                result = {"outcome": "exception", "error_type": type(exc).__name__, "error": first_line(exc),
                          "root_cause": root_cause(exc)}
    finally:
        os.chdir(previous)
    if result["outcome"] == "ok":
        import onnx

        proto = onnx.load(str(onnx_path))
        result["input_dims"] = [graph_input_dims(proto, i.name) for i in proto.graph.input][:1]
    result["warnings"] = len(warning_records(caught))
    result["seconds"] = round(time.perf_counter() - start, 3)
    return result
