"""The models a cell checks: the run's golden checkpoints, loaded in this torch and exported with every
strategy of matrix.toml; and the converter's own pipeline run on this torch (the train check). Nothing
here judges; the checks read what happened from the records.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from converter.errors import describe
from harness.golden.training import MSCRED_EPOCHS, TRAIN_EPOCHS, TRAIN_WINDOW, training_log
from harness.ground.names import MODEL_FILES, artifact_files

if TYPE_CHECKING:
    from converter.compare import Tolerance
    from harness.config.matrix import Matrix


@dataclass
class ModelUnderTest:
    name: str
    checkpoint: Path
    torch_model: Any
    spec: Any
    log: Path  # the log the model was trained on (detection runs on it)
    vocab: Path | None = None  # the training vocab (DeepLog)
    records: dict[str, Any] = field(default_factory=dict)  # strategy -> ExportRecord (None when it raised)
    errors: dict[str, str] = field(default_factory=dict)  # strategy -> why there is no record
    model_dirs: dict[str, Path] = field(default_factory=dict)  # strategy -> folder holding the artifact
    default_call: Any = None  # the default_call probe, once it ran

    def artifact(self, strategy: str) -> Path | None:
        """The strategy's artifact, when its export passed verification."""
        record = self.records.get(strategy)
        folder = self.model_dirs.get(strategy)
        path = folder / MODEL_FILES[self.name] if folder is not None else None
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


def load_golden(name: str, golden, work: Path) -> ModelUnderTest:
    """The golden checkpoint of ``name``, loaded in this torch, with the log and vocab it goes with."""
    from converter import checkpoint, specs

    path = golden.checkpoint(name)
    torch_model, _ = checkpoint.load(path, name)
    entry = golden.model(name)
    vocab = Path(entry["vocab"]) if name == "deeplog" else None
    return ModelUnderTest(name, path, torch_model, specs.spec_for(torch_model), golden.log, vocab=vocab)


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
            if mut.name == "deeplog":
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
        for name in artifact_files(mut.name):
            shutil.copyfile(mut.model_dirs[strategy] / name, target / name)

