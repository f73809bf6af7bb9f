"""Which checkpoints every cell exports: a team's own files (matrix.toml's [model], or --model-dir), or one
reference DeepLog and one reference MSCRED trained once per run on [data].

A team's files are checked before any cell starts, each problem one line naming the file: a path that is
missing, a checkpoint that is not ours, a vocab that does not fit the checkpoint (size, digest, keyed by
template strings), a log in another format than the one the vocab was built from, a log whose signature
matrices do not fit the MSCRED checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from converter.errors import AlogError
from harness.config.matrix import Matrix
from harness.config.models import REFERENCE_MODELS, ModelEntry

if TYPE_CHECKING:
    from converter.models import MSCRED, DeepLog

MODEL_DIR_FILES = {"deeplog": "deeplog.pth", "vocab": "vocab.json", "mscred": "mscred.pth"}


@dataclass(frozen=True)
class ModelSource:
    """The files the golden stage starts from (``reference`` when it trains them itself)."""

    reference: bool
    deeplog: Path | None = None
    vocab: Path | None = None
    mscred: Path | None = None
    log: Path | None = None  # DeepLog windows and MSCRED signature matrices come from this log
    format: str = "auto"
    origin: str = ""  # where the files were named: "[model] of matrix.toml", "--model-dir DIR"
    parsed: Path | None = None  # the log already parsed (a reference's training parse), to take its matrices from
    hubs: tuple[ModelEntry, ...] = ()  # the matrix's hub entries, built by the golden stage
    hub_log: Path | None = None  # [model] log: a hub next-template's golden windows, when it has a vocab

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(m for m in REFERENCE_MODELS if getattr(self, m) is not None) + tuple(h.name for h in self.hubs)


def resolve(matrix: Matrix, model_dir: Path | None = None) -> ModelSource:
    """The model source of a run: --model-dir DIR, else [model] of the matrix, else a reference."""
    table = dict(matrix.model)
    hubs = tuple(e for e in map(matrix.entry, matrix.models) if not e.reference)
    hub_log = matrix.relative(table.get("log"))
    if model_dir is not None:
        model_dir = model_dir.resolve()
        if not model_dir.is_dir():
            raise AlogError(f"--model-dir {model_dir}: not a directory")
        found = {key: model_dir / name for key, name in MODEL_DIR_FILES.items() if (model_dir / name).exists()}
        if "deeplog" not in found and "mscred" not in found:
            raise AlogError(f"--model-dir {model_dir} holds neither deeplog.pth nor mscred.pth")
        log = matrix.relative(table.get("log")) or _only_log(model_dir)
        return ModelSource(False, found.get("deeplog"), found.get("vocab"), found.get("mscred"), log,
                           str(table.get("format", "auto")), f"--model-dir {model_dir}", hubs=hubs, hub_log=hub_log)
    if not any(table.get(key) for key in REFERENCE_MODELS):
        if not any(m in REFERENCE_MODELS for m in matrix.models):  # hub entries only: nothing to train
            return ModelSource(False, log=hub_log, format=str(table.get("format", "auto")),
                               origin=f"[model.*] of {matrix.path}", hubs=hubs, hub_log=hub_log)
        if set(table) - {"log", "format"} or (table and not hubs):
            raise AlogError(f"{matrix.path}: [model] names neither deeplog nor mscred (leave it out to train "
                            "a reference model on [data])")
        return ModelSource(True, origin=f"a reference trained on [data] of {matrix.path}", hubs=hubs, hub_log=hub_log)
    return ModelSource(False, matrix.relative(table.get("deeplog")), matrix.relative(table.get("vocab")),
                       matrix.relative(table.get("mscred")), matrix.relative(table.get("log")),
                       str(table.get("format", "auto")), f"[model] of {matrix.path}", hubs=hubs, hub_log=hub_log)


def _only_log(folder: Path) -> Path:
    logs = sorted(folder.glob("*.log"))
    if len(logs) != 1:
        raise AlogError(f"--model-dir {folder}: name the log in [model] log = ... (found {len(logs)} *.log files "
                        "in the folder; one is taken only when it is the only one)")
    return logs[0]


@dataclass
class CheckedModels:
    """A team's files after every check, with what the golden stage needs from them."""

    source: ModelSource
    log_format: str  # the format of the log (the vocab's, for DeepLog)
    deeplog: DeepLog | None = None  # loaded in this torch
    deeplog_payload: dict[str, Any] = field(default_factory=dict)
    training_vocab: dict[str, int] = field(default_factory=dict)
    mscred: MSCRED | None = None
    mscred_payload: dict[str, Any] = field(default_factory=dict)


def check(source: ModelSource) -> CheckedModels:
    """Every check of a team's files, before any cell starts (nothing is written)."""
    def existing(path: Path | None, what: str) -> Path:
        if path is None:
            raise AlogError(f"{source.origin}: {what} is not named")
        if not path.is_file():
            raise AlogError(f"{source.origin}: {what} {path}: " + ("not a file" if path.exists() else "no such file"))
        return path

    for hub in source.hubs:  # whether the entry builds is the golden stage's and each cell's finding
        assert hub.hub is not None
        where = f"{source.origin}: [model.{hub.name}]"
        if not hub.hub.is_dir():
            raise AlogError(f"{where} hub {hub.hub}: " + ("not a directory" if hub.hub.exists() else "no such folder"))
        for what, path in (("weights", hub.weights), ("vocab", hub.vocab)):
            if path is not None and not path.is_file():
                raise AlogError(f"{where} {what} {path}: " + ("not a file" if path.exists() else "no such file"))
    if source.deeplog is None and source.mscred is None:
        return CheckedModels(source, log_format_of(source.log, source.format) if source.log else "raw")
    from converter import checkpoint, convert  # torch: only when there are checkpoints to load

    log = existing(source.log, "log (the log the golden inputs are taken from)")
    fmt = log_format_of(log, source.format)
    checked = CheckedModels(source, fmt)
    if source.deeplog is not None:
        vocab = existing(source.vocab, "vocab (the training vocab of deeplog.pth)")
        model, payload, training_vocab = convert.load_deeplog(existing(source.deeplog, "deeplog checkpoint"), vocab)
        built_from = payload["extra"]["log_format"]
        if built_from != fmt:
            raise AlogError(f"{log} is a {fmt} log, but {source.deeplog} and its vocab were built from {built_from} "
                            "logs: name a log of that format in [model] log (and its format)")
        checked.deeplog, checked.deeplog_payload, checked.training_vocab = model, payload, training_vocab
    if source.mscred is not None:
        checked.mscred, checked.mscred_payload = checkpoint.load(existing(source.mscred, "mscred checkpoint"),
                                                                 "mscred")
    return checked


def log_format_of(log: Path, named: str) -> str:
    """The log's format: as named, else detected from its first lines ("raw" when no known header fits)."""
    from converter import logformats

    if named != "auto":
        return named
    try:
        return logformats.detect_format(logformats.read_log_text(log).splitlines()[:200])
    except AlogError:
        return "raw"  # no known header: the whole line is the message
