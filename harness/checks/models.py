"""The models a cell checks: trained with this torch through the converter's own pipeline, then exported
with every strategy of matrix.toml. Nothing here judges; the checks read what happened from the records.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from converter import artifacts
from converter.errors import AlogError, describe

if TYPE_CHECKING:
    from converter.compare import Tolerance
    from harness.matrix import Matrix

TRAIN_WINDOW = 10
TRAIN_EPOCHS = 3
MSCRED_EPOCHS = 1  # MSCRED trains ~6 s an epoch here; parity does not need a converged model
ONNX_FILES = {"deeplog": artifacts.DEEPLOG_ONNX, "mscred": artifacts.MSCRED_ONNX}


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
        path = folder / ONNX_FILES[self.name] if folder is not None else None
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
    """The pipeline's outcome: the models it trained, or the exception it stopped with."""

    models: dict[str, ModelUnderTest] = field(default_factory=dict)
    stopped: BaseException | None = None
    seconds: float = 0.0

    @property
    def cause(self) -> str:
        return describe(self.stopped) if self.stopped is not None else ""


def training_log(matrix: Matrix, work: Path) -> tuple[Path, str]:
    """The log the cell trains on: matrix.toml's [data] log, else the deterministic synthetic one."""
    from harness import synthlog

    real = matrix.data_log()
    if real is not None:
        if not real.is_file():
            raise AlogError(f"[data] log = {real} does not exist")
        return real, str(matrix.data.get("format", "auto"))
    log = work / "synthetic_hdfs.log"
    synthlog.generate(log, blocks=int(matrix.data.get("synthetic_blocks", 300)), seed=int(matrix.data.get("seed", 7)))
    return log, "hdfs"


def train(matrix: Matrix, work: Path, tolerance: Tolerance) -> Training:
    """Train the matrix's models and run the legacy conversion with ``converter.pipeline.run_pipeline``."""
    import time

    train_dir, models_dir = work / "train", work / "models"
    for stale in (train_dir, models_dir):
        shutil.rmtree(stale, ignore_errors=True)
    started = time.perf_counter()
    training = Training()
    try:
        from converter import checkpoint, specs
        from converter.pipeline import run_pipeline

        log, fmt = training_log(matrix, work)
        result = run_pipeline(
            log, train_dir, fmt=fmt, window=TRAIN_WINDOW, epochs=TRAIN_EPOCHS, exporter="legacy",
            seed=int(matrix.data.get("seed", 7)), mscred="mscred" in matrix.models, mscred_epochs=MSCRED_EPOCHS,
            model_dir=models_dir / "legacy", tolerance=tolerance,
        )
    except Exception as exc:  # noqa: BLE001 - the legacy_export check records it; the rest are not reached
        training.stopped = exc
        training.seconds = time.perf_counter() - started
        return training
    for name in matrix.models:
        converted = result.deeplog if name == "deeplog" else result.mscred
        if converted is None:
            continue
        ckpt = train_dir / f"{name}.pth"
        torch_model, _ = checkpoint.load(ckpt, name)
        spec = specs.spec_for(torch_model)
        mut = ModelUnderTest(name, ckpt, torch_model, spec, log, vocab=result.vocab if name == "deeplog" else None)
        mut.records["legacy"] = converted.record
        mut.model_dirs["legacy"] = models_dir / "legacy"
        training.models[name] = mut
    training.seconds = time.perf_counter() - started
    return training


def export_strategies(mut: ModelUnderTest, strategies: tuple[str, ...], work: Path, tolerance: Tolerance) -> None:
    """Every strategy of matrix.toml not run yet (the pipeline ran legacy), through ``converter.convert``."""
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
