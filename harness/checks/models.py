"""The models a cell checks: the run's golden checkpoints, loaded in this torch and exported with every
strategy of matrix.toml; and the converter's own pipeline run on this torch (the train check). Nothing
here judges; the checks read what happened from the records.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from converter.errors import AlogError, describe
from harness.golden.training import MSCRED_EPOCHS, TRAIN_EPOCHS, TRAIN_WINDOW, training_log

if TYPE_CHECKING:
    from converter.compare import Tolerance
    from harness.config.matrix import Matrix
    from harness.config.models import ModelEntry


@dataclass
class ModelUnderTest:
    name: str
    checkpoint: Path  # the weights: an alog-detect checkpoint, or a hub entry's state_dict
    torch_model: Any
    spec: Any
    log: Path  # the log the model was trained on (detection runs on it)
    entry: ModelEntry
    vocab: Path | None = None  # the training vocab (DeepLog's, or a hub next-template's when it has one)
    log_format: str = "raw"  # the log's format (the engine vocab's header fields)
    records: dict[str, Any] = field(default_factory=dict)  # strategy -> ExportRecord (None when it raised)
    errors: dict[str, str] = field(default_factory=dict)  # strategy -> why there is no record
    model_dirs: dict[str, Path] = field(default_factory=dict)  # strategy -> folder holding the artifact
    default_call: Any = None  # the default_call probe, once it ran

    def artifact(self, strategy: str) -> Path | None:
        """The strategy's artifact, when its export passed verification."""
        record = self.records.get(strategy)
        folder = self.model_dirs.get(strategy)
        path = folder / self.entry.onnx if folder is not None else None
        return path if record is not None and record.ok and path is not None and path.is_file() else None

    def strategies_with_artifacts(self) -> list[str]:
        return [s for s in self.model_dirs if self.artifact(s) is not None]

    def final_artifact(self) -> tuple[str, Path] | None:
        """The artifact a user gets: auto's, or legacy's when auto produced none."""
        for strategy in ("auto", "legacy"):
            path = self.artifact(strategy)
            if path is not None:
                return strategy, path
        return None


@dataclass
class Training:
    """The pipeline's outcome on this torch: the checkpoints it trained, or the exception it stopped with."""

    checkpoints: dict[str, Path] = field(default_factory=dict)
    stopped: BaseException | None = None
    seconds: float = 0.0

    @property
    def cause(self) -> str:
        return describe(self.stopped) if self.stopped is not None else ""


def train(matrix: Matrix, work: Path, tolerance: Tolerance) -> Training:
    """The converter's whole pipeline on this torch (train, then the legacy conversion), short and seeded."""
    import time

    train_dir = work / "train"
    shutil.rmtree(train_dir, ignore_errors=True)
    started = time.perf_counter()
    training = Training()
    try:
        from converter.pipeline import run_pipeline

        log, fmt = training_log(matrix, work)
        result = run_pipeline(log, train_dir, fmt=fmt, window=TRAIN_WINDOW, epochs=TRAIN_EPOCHS, exporter="legacy",
                              seed=int(matrix.data.get("seed", 7)), mscred="mscred" in matrix.models,
                              mscred_epochs=MSCRED_EPOCHS, model_dir=train_dir / "model", tolerance=tolerance)
        training.checkpoints["deeplog"] = result.deeplog_checkpoint
        if result.mscred_checkpoint is not None:
            training.checkpoints["mscred"] = result.mscred_checkpoint
    except Exception as exc:  # noqa: BLE001 - the train check records it; the golden checks go on
        training.stopped = exc
    training.seconds = time.perf_counter() - started
    return training


def load_golden(entry: ModelEntry, golden, work: Path) -> ModelUnderTest:
    """The golden weights of ``entry``, loaded in this torch, with the log and vocab they go with: an
    alog-detect checkpoint, or a hub entry built by its hubconf.py here and given the golden state_dict."""
    from converter import checkpoint, hub, specs

    recorded = golden.model(entry.name)
    if "error" in recorded:  # the golden stage could not build it: what does this torch say?
        hub.load(entry.hub_entry(entry.weights), seed=0)
        raise AlogError(f"it builds in this torch, but the golden stage could not build it: {recorded['error']}")
    path = golden.checkpoint(entry.name)
    fmt = golden.manifest["source"].get("format", "raw")
    if entry.reference:
        torch_model, _ = checkpoint.load(path, entry.name)
        vocab = Path(recorded["vocab"]) if recorded.get("vocab") else None
        return ModelUnderTest(entry.name, path, torch_model, specs.spec_for(torch_model), golden.log, entry,
                              vocab=vocab, log_format=fmt)
    loaded = hub.load(entry.hub_entry(path))
    log = Path(recorded["log"]) if recorded.get("log") else golden.log
    return ModelUnderTest(entry.name, path, loaded.module, loaded.spec, log, entry, vocab=entry.vocab,
                          log_format=recorded.get("log_format", fmt))


def export_strategies(mut: ModelUnderTest, strategies: tuple[str, ...], work: Path, tolerance: Tolerance) -> None:
    """Every strategy of matrix.toml, through ``converter.convert``, each into ``work/models/<strategy>``."""
    from converter import convert
    from converter.errors import root_cause
    from converter.exporting import ExportFailed

    for strategy in strategies:
        if strategy in mut.records:
            continue
        out_dir = work / "models" / strategy
        mut.model_dirs[strategy] = out_dir
        try:
            if not mut.entry.reference:
                converted = convert.convert_hub(mut.entry.hub_entry(mut.checkpoint), out_dir, exporter=strategy,
                                                tolerance=tolerance, vocab_path=mut.vocab, log_format=mut.log_format,
                                                onnx_name=mut.entry.onnx,
                                                vocab_name=mut.entry.engine_vocab or "vocab.json")
            elif mut.spec.model_type == "deeplog":
                converted = convert.convert_deeplog(mut.checkpoint, mut.vocab, out_dir, exporter=strategy,
                                                    tolerance=tolerance)
            else:
                converted = convert.convert_mscred(mut.checkpoint, out_dir, exporter=strategy, tolerance=tolerance)
            mut.records[strategy] = converted.record
        except ExportFailed as exc:
            mut.records[strategy] = exc.record
        except Exception as exc:  # noqa: BLE001 - the strategy's check reports it
            mut.records[strategy] = None
            mut.errors[strategy] = f"{describe(exc)} (root cause {root_cause(exc)})"


def keep_artifacts(mut: ModelUnderTest, keep: Path) -> None:
    """Every artifact the cell produced, copied to ``keep/<strategy>/`` (the work folder is scratch): the
    runtime stage loads them, and a user can take the one that passed."""
    for strategy in mut.strategies_with_artifacts():
        target = keep / strategy
        target.mkdir(parents=True, exist_ok=True)
        for name in mut.entry.artifact_files():
            shutil.copyfile(mut.model_dirs[strategy] / name, target / name)

