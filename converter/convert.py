"""convert-onnx: checkpoints -> a model directory the C engine can load (model, meta, engine vocab).

Nothing is published until everything passed: each artifact is exported and validated under a
pending name unique to the run, and only then the set (model, meta, vocab) is moved over the old one
(by converter.atomic's rules, so a symlink or a device there is written through, not replaced), so a
failed or interrupted conversion leaves the previous set whole. One conversion at a time holds the
output folder (converter.outdir); no pending file outlives a conversion, whatever stopped it.
"""

from __future__ import annotations

import builtins
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from converter import artifacts, atomic, checkpoint, metafile, outdir
from converter import vocab as vocab_mod
from converter.compare import DEFAULT_TOLERANCE, Tolerance
from converter.errors import AlogError
from converter.hub import HubEntry
from converter.specs import ExportSpec, deeplog_spec, mscred_spec
from converter.verification import compare_at_shapes, worst

if TYPE_CHECKING:
    from converter.exporting import ExportRecord


@dataclass
class Converted:
    model_type: str
    onnx_path: Path
    meta_path: Path
    record: ExportRecord
    meta: dict[str, Any]
    validation: list = field(default_factory=list)  # Comparisons, when --validate ran


def _prepare_dir(output_dir: Path, targets: Sequence[Path]) -> None:
    """Refuse, before any export, an output directory that cannot be written or a target that cannot be."""
    if output_dir.exists() and not output_dir.is_dir():
        raise AlogError(f"output directory {output_dir} exists and is a file")
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=output_dir):  # read-only file system, no permission
            pass
    except OSError as exc:
        raise AlogError(f"cannot write to output directory {output_dir}: {exc.strerror or exc}") from None
    for target in targets:
        atomic.check_target(target)


def _is_os_error(exception_type: str | None) -> bool:
    """Whether an export record's "module.Name" exception type is a built-in OSError."""
    module, _, name = (exception_type or "").rpartition(".")
    found = getattr(builtins, name, None) if module == "builtins" else None
    return isinstance(found, type) and issubclass(found, OSError)


def _export_and_check(model, spec: ExportSpec, pending: Path, exporter: str, opset: int | None, validate: bool,
                      tolerance: Tolerance, metadata: dict[str, str]) -> tuple[ExportRecord, list]:
    # the exporters (and onnx) load here, once a model is built: a refused input is refused without them
    from converter.exporting import ExportFailed, export_model

    try:
        record = export_model(model, spec, pending, exporter, opset, tolerance, metadata)
    except ExportFailed as exc:
        last = exc.record.attempts[-1] if exc.record.attempts else None
        if last is not None and _is_os_error(last.exception_type):  # the exporter could not write its file
            raise AlogError(f"cannot write to output directory {pending.parent}: {last.error}") from None
        raise
    comparisons = []
    if validate:
        comparisons = compare_at_shapes(model, pending, spec, spec.validate_shapes, tolerance)
        failed = [c for c in comparisons if not c]
        if failed:
            raise AlogError(f"validation failed for {spec.model_type} at {len(failed)} of {len(comparisons)} shapes: "
                            f"{failed[0].describe()} (existing artifacts left untouched)")
    return record, comparisons


def _meta(spec: ExportSpec, model_config: dict[str, Any], record: ExportRecord, comparisons: list,
          extra: dict[str, Any]) -> dict[str, Any]:
    meta = {
        "format_version": artifacts.META_FORMAT_VERSION,
        "model_type": spec.model_type,
        "input_name": spec.input_name,
        "output_name": spec.output_name,
        "opset": record.opset,
        "dynamic_axes": {spec.input_name: {str(k): v for k, v in spec.input_axes.items()},
                         spec.output_name: {str(k): v for k, v in spec.output_axes.items()}},
        **extra,
        "model_config": model_config,
        "versions": record.versions,
        "export": record.to_dict(),
    }
    if comparisons:
        meta["validation"] = {**worst(comparisons), "tolerance": {"atol": comparisons[0].tolerance.atol,
                                                                  "rtol": comparisons[0].tolerance.rtol},
                              "shapes_checked": [c.name for c in comparisons]}
    return meta


def _source(model_path, portable: bool) -> str:
    # a portable directory names its checkpoint relatively; otherwise the full path helps tracing
    return Path(model_path).name if portable else str(Path(model_path).resolve())


def load_deeplog(model_path, vocab_path):
    """A DeepLog checkpoint and its training vocab, the pair checked: the vocab is keyed by template strings,
    has one template per embedding row, and is the very vocab the checkpoint was trained on (its digest)."""
    model, payload = checkpoint.load(model_path, "deeplog")
    training_vocab = vocab_mod.load_training_vocab(vocab_path)
    vocab_mod.check_vocab_size(training_vocab, model.config.vocab_size, str(model_path))
    digest = payload["extra"]["vocab_sha256"]
    if digest and digest != checkpoint.vocab_digest(training_vocab):
        raise AlogError(f"{vocab_path} is not the vocab {model_path} was trained on (same size, different templates)")
    return model, payload, training_vocab


def convert_deeplog(model_path, vocab_path, output_dir, seq_len: int | None = None, exporter: str = "auto",
                    opset: int | None = None, validate: bool = False, portable: bool = False,
                    tolerance: Tolerance = DEFAULT_TOLERANCE) -> Converted:
    output_dir = Path(output_dir)
    model, payload, training_vocab = load_deeplog(model_path, vocab_path)
    extra = payload["extra"]  # checked by checkpoint.load, defaults filled in
    if seq_len is not None and not artifacts.in_bounds("seq_len", seq_len):
        raise AlogError(f"seq_len {seq_len} is out of range: expected {artifacts.bounds_text('seq_len')}")
    seq_len = seq_len or model.config.seq_len
    target = output_dir / artifacts.DEEPLOG_ONNX
    targets = (target, artifacts.meta_path(target), output_dir / artifacts.ENGINE_VOCAB)
    _prepare_dir(output_dir, targets)
    spec = deeplog_spec(model, seq_len)
    with outdir.hold(output_dir), outdir.staged(targets) as (pending_model, pending_meta, pending_vocab):
        record, comparisons = _export_and_check(model, spec, pending_model, exporter, opset, validate, tolerance,
                                                {"alog.model_type": "deeplog", "alog.seq_len": str(seq_len)})
        meta = _meta(spec, model.config.to_dict(), record, comparisons, {
            "vocab_size": model.config.vocab_size,
            "seq_len": seq_len,
            "top_g": artifacts.DEFAULT_TOP_G,
            "log_format": extra["log_format"],
            "header_fields": extra["header_fields"],
            "source": _source(model_path, portable),
        })
        atomic.write_json(pending_meta, meta)
        vocab_mod.write_engine_vocab(pending_vocab, vocab_mod.to_engine_format(training_vocab))
        outdir.test_pause("before-publish")
        outdir.publish((pending_model, pending_meta, pending_vocab), targets)
    if portable:
        check_portable(output_dir)
    return Converted("deeplog", target, targets[1], record, meta, comparisons)


def convert_mscred(model_path, output_dir, exporter: str = "auto", opset: int | None = None, validate: bool = False,
                   portable: bool = False, tolerance: Tolerance = DEFAULT_TOLERANCE) -> Converted:
    output_dir = Path(output_dir)
    model, payload = checkpoint.load(model_path, "mscred")
    target = output_dir / artifacts.MSCRED_ONNX
    targets = (target, artifacts.meta_path(target))
    _prepare_dir(output_dir, targets)
    spec = mscred_spec(model)
    c = model.config
    with outdir.hold(output_dir), outdir.staged(targets) as (pending_model, pending_meta):
        record, comparisons = _export_and_check(model, spec, pending_model, exporter, opset, validate, tolerance,
                                                {"alog.model_type": "mscred"})
        meta = _meta(spec, model.config.to_dict(), record, comparisons, {
            "sensors": c.sensors, "scales": c.scales, "step": c.step,
            "scale_windows": payload["extra"]["scale_windows"],
            "source": _source(model_path, portable),
        })
        atomic.write_json(pending_meta, meta)
        outdir.test_pause("before-publish")
        outdir.publish((pending_model, pending_meta), targets)
    if portable:
        check_portable(output_dir)
    return Converted("mscred", target, targets[1], record, meta, comparisons)


def convert_hub(entry: HubEntry, output_dir, exporter: str = "auto", opset: int | None = None,
                validate: bool = False, portable: bool = False, tolerance: Tolerance = DEFAULT_TOLERANCE,
                vocab_path=None, log_format: str = "raw", onnx_name: str | None = None,
                vocab_name: str = artifacts.ENGINE_VOCAB) -> Converted:
    """A team's hub entry (``converter.hub``) to the artifact layout of its interface: ``deeplog.onnx`` (or
    ``onnx_name``) with meta and, given its training vocab, the engine vocab for a next-template model;
    ``mscred.onnx`` with meta for a signature-matrix one."""
    from converter import hub, logformats

    output_dir = Path(output_dir)
    loaded = hub.load(entry)
    spec = loaded.spec
    training_vocab = None
    if vocab_path is not None:
        if entry.interface != "next-template":
            raise AlogError(f"--vocab is for a next-template model; {entry.title} is a {entry.interface} model")
        training_vocab = vocab_mod.load_training_vocab(vocab_path)
        assert loaded.vocab_size is not None
        vocab_mod.check_vocab_size(training_vocab, loaded.vocab_size, entry.title,
                                   f"it scores {loaded.vocab_size} templates (its output width)")
    if log_format not in logformats.FORMATS:
        raise AlogError(f"unknown log format {log_format!r}: choose one of {', '.join(logformats.FORMATS)}")
    default_name = artifacts.DEEPLOG_ONNX if entry.interface == "next-template" else artifacts.MSCRED_ONNX
    target = output_dir / (onnx_name or default_name)
    targets = (target, artifacts.meta_path(target)) + ((output_dir / vocab_name,) if training_vocab else ())
    _prepare_dir(output_dir, targets)
    described = entry.describe()
    extra: dict[str, Any] = {"architecture": entry.entry, "hub": described,
                             "source": entry.hub.name if portable else str(entry.hub.resolve())}
    if entry.interface == "next-template":
        extra.update(vocab_size=loaded.vocab_size, seq_len=entry.window, top_g=artifacts.DEFAULT_TOP_G)
        if training_vocab is not None:
            extra.update(log_format=log_format, header_fields=logformats.HEADER_FIELDS[log_format])
    else:
        assert entry.shape is not None
        extra.update(dict(zip(("step", "scales", "sensors"), entry.shape, strict=True)))
    metadata = {"alog.model_type": spec.model_type, "alog.architecture": entry.entry}
    with outdir.hold(output_dir), outdir.staged(targets) as pending:
        record, comparisons = _export_and_check(loaded.module, spec, pending[0], exporter, opset, validate,
                                                tolerance, metadata)
        meta = _meta(spec, described, record, comparisons, extra)
        atomic.write_json(pending[1], meta)
        if training_vocab is not None:
            vocab_mod.write_engine_vocab(pending[2], vocab_mod.to_engine_format(training_vocab))
        outdir.test_pause("before-publish")
        outdir.publish(pending, targets)
    if portable:
        check_portable(output_dir)
    return Converted(spec.model_type, target, targets[1], record, meta, comparisons)


def check_portable(output_dir: Path) -> None:
    """A portable directory: each model one file (no external data), no absolute paths in metadata."""
    import onnx

    for onnx_file in sorted(output_dir.glob("*.onnx")):
        model = onnx.load(str(onnx_file), load_external_data=False)
        external = [t.name for t in model.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
        if external:
            raise AlogError(f"{onnx_file} refers to external data ({external[0]}...): not portable")
        meta_file = artifacts.meta_path(onnx_file)
        if not meta_file.is_file():
            raise AlogError(f"{onnx_file.name} has no {meta_file.name}: not portable")
        meta = metafile.load(meta_file)
        if Path(str(meta.get("source", ""))).is_absolute():
            raise AlogError(f"{meta_file} holds an absolute path: not portable")
    if (output_dir / artifacts.DEEPLOG_ONNX).exists() and not (output_dir / artifacts.ENGINE_VOCAB).is_file():
        raise AlogError(f"{output_dir} has a DeepLog model but no {artifacts.ENGINE_VOCAB}: not portable")
