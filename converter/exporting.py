"""Export strategies that survive every torch from 1.13 on.

- ``legacy``: TorchScript exporter, ``dynamo=False`` passed explicitly; on the TypeError of a torch that
  has no such keyword (< 2.4), the same call without it.
- ``dynamo``: ``dynamo=True`` with dynamic batch/sequence axes.
- ``auto``: dynamo where the keyword exists, then *verify* (input axes symbolic, parity with PyTorch at
  two shapes other than the export shape); an exception or a failed verification falls back to legacy.

Every export returns an ``ExportRecord`` (and raises ``ExportFailed`` carrying one), so what happened
is never lost: attempts, exceptions with root cause, warnings, opset, dims, op types, seconds, versions.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import onnx
import torch

from converter import artifacts, atomic, graphinfo, versions
from converter.capture import capture_exporter_output
from converter.compare import DEFAULT_TOLERANCE, Tolerance
from converter.errors import AlogError, first_line, innermost, root_cause
from converter.ortsession import ort_session
from converter.specs import ExportSpec
from converter.verification import compare_at_shapes, worst

STRATEGIES = artifacts.EXPORT_STRATEGIES
LEGACY_DEFAULT_OPSET = 17  # the newest opset torch 1.13's TorchScript exporter writes
MIN_OPSET = 9  # ONNX Runtime refuses lower opsets for these graphs


@dataclass
class Attempt:
    exporter: str  # "torchscript" or "dynamo"
    call: str  # the call that ran: "dynamo=False", "without dynamo (TypeError retry)", "dynamo=True"
    outcome: str = "ok"  # ok | exception | no_keyword | wrong_inputs | frozen_axes | parity_failed
    stage: str | None = None  # where an exception came from
    exception_type: str | None = None
    error: str | None = None  # first line
    root_cause: str | None = None  # innermost exception, "Type: first line"
    warnings: list[dict[str, str]] = field(default_factory=list)
    output: str = ""  # what the exporter printed (stdout/stderr, torch logging)
    seconds: float = 0.0
    opset: int | None = None
    inputs: dict[str, list] = field(default_factory=dict)
    frozen_axes: dict[str, Any] = field(default_factory=dict)
    parity: dict[str, Any] = field(default_factory=dict)
    typeerror_retry: bool = False


@dataclass
class ExportRecord:
    model_type: str
    strategy: str
    exporter: str | None = None  # the exporter that produced the final file
    reason: str = ""  # why that exporter: a sentence
    attempts: list[Attempt] = field(default_factory=list)
    opset: int | None = None
    inputs: dict[str, list] = field(default_factory=dict)
    outputs: dict[str, list] = field(default_factory=dict)
    op_types: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    versions: dict[str, Any] = field(default_factory=dict)
    exporter_signature: dict[str, Any] = field(default_factory=dict)
    tolerance: dict[str, float] = field(default_factory=dict)  # the policy the verification judged parity with

    @property
    def ok(self) -> bool:
        return self.exporter is not None

    @property
    def warnings(self) -> list[dict[str, str]]:
        return [w for a in self.attempts for w in a.warnings]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ExportFailed(AlogError):
    def __init__(self, message: str, record: ExportRecord):
        super().__init__(message)
        self.record = record


def exporter_signature() -> dict[str, Any]:
    """What this torch's torch.onnx.export accepts: the facts the strategies branch on."""
    params = inspect.signature(torch.onnx.export).parameters
    dynamo = params.get("dynamo")
    return {
        "torch": torch.__version__,
        "dynamo_keyword": dynamo is not None,
        "dynamo_default": None if dynamo is None or dynamo.default is inspect.Parameter.empty else dynamo.default,
        "fallback_keyword": "fallback" in params,
        "dynamic_shapes_keyword": "dynamic_shapes" in params,
        "external_data_keyword": "external_data" in params,
        "accepts_var_kwargs": any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()),
    }


def _stage(exc: BaseException) -> str:
    """Which part of the dynamo pipeline raised, from the exception's type and text."""
    root = innermost(exc)
    names = " ".join(f"{type(e).__module__}.{type(e).__name__}" for e in (exc, root))
    text = (str(exc) + " " + str(root)).lower()
    if isinstance(exc, (ImportError, ModuleNotFoundError)) or "onnxscript" in text and "install" in text:
        return "dependency"
    if "torchexport" in names.lower() or "torch._dynamo" in names or "torch.export" in text \
            or "constraint" in text or "guard" in text or "dynamo" in names.lower():
        return "graph capture (torch.export / dynamo)"
    if "conversion" in names.lower() or "dispatch" in names.lower() or "no onnx function" in text \
            or "unsupported fx node" in text or "onnxscript" in names:
        return "translation to ONNX"
    return "export"


def _fill_exception(attempt: Attempt, exc: BaseException) -> None:
    attempt.outcome = "exception"
    attempt.exception_type = f"{type(exc).__module__}.{type(exc).__name__}"
    attempt.error = first_line(exc)
    attempt.root_cause = root_cause(exc)


@contextlib.contextmanager
def _working_directory(path: Path) -> Iterator[None]:
    # Older dynamo exporters drop report files (report_dynamo_export.sarif) into the cwd. Every path
    # used inside must be absolute: a relative one would then point into the new directory.
    if not path.is_absolute():
        raise ValueError(f"refusing to change into the relative directory {path}")
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def _legacy(model, spec: ExportSpec, x, path: Path, opset: int | None) -> Attempt:
    kwargs: dict[str, Any] = dict(
        input_names=[spec.input_name],
        output_names=[spec.output_name],
        dynamic_axes=spec.legacy_dynamic_axes(),
        opset_version=opset or LEGACY_DEFAULT_OPSET,
        do_constant_folding=True,
    )
    attempt = Attempt(exporter="torchscript", call="dynamo=False")
    started = time.perf_counter()
    with capture_exporter_output() as captured:
        try:
            try:
                torch.onnx.export(model, (x,), str(path), dynamo=False, **kwargs)
            except TypeError as exc:
                if "dynamo" not in str(exc):
                    raise
                # torch < 2.4 has no `dynamo` keyword: its only exporter is the TorchScript one.
                attempt.call = "without dynamo (TypeError retry)"
                attempt.typeerror_retry = True
                torch.onnx.export(model, (x,), str(path), **kwargs)
        except Exception as exc:  # noqa: BLE001 - every exporter failure is recorded, not raised
            _fill_exception(attempt, exc)
            attempt.stage = "torchscript export"
    attempt.seconds = time.perf_counter() - started
    attempt.warnings, attempt.output = captured.warnings, captured.output
    return attempt


def _clear_rnn_dispatch_cache() -> None:
    """Forget which kernel aten.lstm/aten.gru dispatched to last time.

    torch's exporter (2.10+, torch/export/_patches.py) swaps in a loop-based LSTM/GRU for dynamic
    sequence lengths by writing ``py_kernels`` directly, without clearing the operator's dispatch
    cache; a later LSTM run caches the unrolled kernel, so the *next* export in the process unrolls
    the time loop and silently freezes the sequence axis. Private API: a no-op where it is absent.
    """
    for name in ("lstm", "gru"):
        op = getattr(getattr(getattr(torch.ops, "aten", None), name, None), "input", None)
        cache = getattr(op, "_dispatch_cache", None)
        if isinstance(cache, dict):
            cache.clear()


def _dynamo(model, spec: ExportSpec, x, path: Path, opset: int | None, signature: dict) -> Attempt:
    attempt = Attempt(exporter="dynamo", call="dynamo=True")
    if not signature["dynamo_keyword"]:
        attempt.outcome = "no_keyword"
        attempt.error = f"torch {torch.__version__} has no dynamo keyword in torch.onnx.export"
        return attempt
    kwargs: dict[str, Any] = dict(dynamo=True, input_names=[spec.input_name], output_names=[spec.output_name])
    if opset:
        kwargs["opset_version"] = opset
    if signature["dynamic_shapes_keyword"]:
        from torch.export import Dim

        # Tuple form: matches the positional example input whatever forward()'s argument is called.
        kwargs["dynamic_shapes"] = ({axis: Dim(name) for axis, name in spec.input_axes.items()},)
    else:  # torch 2.4: the dynamo path takes the TorchScript-style spec
        kwargs["dynamic_axes"] = spec.legacy_dynamic_axes()
    if signature["external_data_keyword"]:
        kwargs["external_data"] = False
    started = time.perf_counter()
    with capture_exporter_output() as captured, _working_directory(path.parent):
        _clear_rnn_dispatch_cache()
        try:
            program = torch.onnx.export(model, (x,), str(path), **kwargs)
            if not path.exists() and program is not None and hasattr(program, "save"):
                program.save(str(path))
        except Exception as exc:  # noqa: BLE001
            _fill_exception(attempt, exc)
            attempt.stage = _stage(exc)
        finally:
            _clear_rnn_dispatch_cache()  # a capture that stopped early leaves the loop kernel cached
    attempt.seconds = time.perf_counter() - started
    attempt.warnings, attempt.output = captured.warnings, captured.output
    if attempt.outcome == "ok" and not path.exists():
        attempt.outcome, attempt.error = "exception", "the exporter returned without writing a file"
    return attempt


def _verify(model, spec: ExportSpec, path: Path, attempt: Attempt, tolerance: Tolerance) -> None:
    """Frozen axes or a parity failure at other shapes turn an 'ok' attempt into a failed one."""
    try:
        info = graphinfo.describe(onnx.load(str(path)))
    except Exception as exc:  # noqa: BLE001
        _fill_exception(attempt, exc)
        attempt.stage = "loading the exported file"
        return
    attempt.opset = info["opset"]
    attempt.inputs = info["inputs"]
    if spec.input_name not in info["inputs"]:  # the contract's names are what the engine feeds
        attempt.outcome = "wrong_inputs"
        attempt.error = f"exported, but the graph inputs are {info['inputs']} instead of {spec.input_name!r}"
        return
    attempt.frozen_axes = graphinfo.frozen_axes(info, spec.input_name, spec.input_axes)
    if attempt.frozen_axes:
        attempt.outcome = "frozen_axes"
        frozen = ", ".join(f"{k}={v}" for k, v in attempt.frozen_axes.items())
        attempt.error = f"exported, but dynamic axes came out fixed: {frozen}"
        return
    try:
        comparisons = compare_at_shapes(model, path, spec, spec.check_shapes, tolerance, ort_session(path))
    except Exception as exc:  # noqa: BLE001 - ORT cannot even load it
        _fill_exception(attempt, exc)
        attempt.stage = "loading in ONNX Runtime"
        return
    attempt.parity = worst(comparisons)
    failed = [c for c in comparisons if not c]
    if failed:
        attempt.outcome = "parity_failed"
        attempt.error = "parity with PyTorch failed: " + failed[0].describe()


def _plan(strategy: str, signature: dict) -> list[str]:
    if strategy == "legacy":
        return ["legacy"]
    if strategy == "dynamo":
        return ["dynamo"]
    return (["dynamo"] if signature["dynamo_keyword"] else []) + ["legacy"]


def _finalise(source: Path, target: Path, metadata: dict[str, str]) -> onnx.ModelProto:
    """Load with any external data, embed everything, add our metadata, write one file atomically."""
    model = onnx.load(str(source), load_external_data=True)
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    with atomic.atomic_path(target) as tmp:
        onnx.save_model(model, str(tmp), save_as_external_data=False)
    return model


def export_model(
    model: torch.nn.Module,
    spec: ExportSpec,
    onnx_path: str | Path,
    strategy: str = "auto",
    opset: int | None = None,
    tolerance: Tolerance = DEFAULT_TOLERANCE,
    metadata: dict[str, str] | None = None,
) -> ExportRecord:
    """Export ``model`` to ``onnx_path`` with ``strategy``; the file appears only if an attempt passed."""
    if strategy not in STRATEGIES:
        raise AlogError(f"unknown exporter {strategy!r}: choose one of {', '.join(STRATEGIES)}")
    if opset is not None and opset < MIN_OPSET:
        raise AlogError(f"--opset {opset} is too low: ONNX Runtime needs opset >= {MIN_OPSET} for these models")
    if opset is not None and opset > artifacts.BOUNDS["opset"][1]:
        raise AlogError(f"--opset {opset} is out of range: expected {artifacts.bounds_text('opset')}")
    # Absolute once, here: the dynamo attempt runs in its own working directory (_working_directory).
    onnx_path = Path(os.path.abspath(onnx_path))
    if onnx_path.parent.exists() and not onnx_path.parent.is_dir():
        raise AlogError(f"output directory {onnx_path.parent} is a file")
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    model.eval()
    signature = exporter_signature()
    record = ExportRecord(spec.model_type, strategy, versions=versions.environment(), exporter_signature=signature,
                          tolerance=asdict(tolerance))
    batch, length = spec.export_shape
    x = spec.make_input(batch, length, 0)
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix=".export-", dir=onnx_path.parent))
    try:
        for index, step in enumerate(_plan(strategy, signature)):
            path = work / f"attempt{index}-{step}" / onnx_path.name
            path.parent.mkdir()
            if step == "dynamo":
                attempt = _dynamo(model, spec, x, path, opset, signature)
            else:
                attempt = _legacy(model, spec, x, path, opset)
            if attempt.outcome == "ok":
                _verify(model, spec, path, attempt, tolerance)
            record.attempts.append(attempt)
            if attempt.outcome == "ok":
                model_proto = _finalise(path, onnx_path, metadata or {})
                record.exporter = attempt.exporter
                record.reason = _reason(record)
                break
    finally:
        shutil.rmtree(work, ignore_errors=True)
        record.seconds = time.perf_counter() - started
    if not record.ok:  # one line naming every attempt's reason: why no strategy gave an artifact
        what = (metadata or {}).get("alog.architecture") or spec.model_type
        limit = 300 if len(record.attempts) > 1 else 500
        reasons = "; ".join(f"{a.exporter} {a.outcome}: {first_words(a.error, limit)}" for a in record.attempts)
        raise ExportFailed(f"{what} export failed ({strategy}): {reasons}", record)
    info = graphinfo.describe(model_proto)
    record.opset, record.inputs, record.outputs, record.op_types = (
        info["opset"], info["inputs"], info["outputs"], info["op_types"])
    return record


def _reason(record: ExportRecord) -> str:
    final = record.attempts[-1]
    if record.strategy != "auto":
        return f"{record.strategy} strategy asked for the {final.exporter} exporter ({final.call})"
    if len(record.attempts) == 1:
        if final.exporter == "dynamo":
            return "dynamo export passed verification (dynamic axes symbolic, parity at other shapes)"
        return f"torch {torch.__version__} has no dynamo keyword: TorchScript exporter ({final.call})"
    first = record.attempts[0]
    return f"dynamo {first.outcome}: {first.error}; fell back to the TorchScript exporter ({final.call})"


def first_words(text: str | None, limit: int = 300) -> str:
    """An attempt's error shortened for the one-line failure that names every attempt."""
    text = (text or "").strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"
