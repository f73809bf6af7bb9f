"""The whole flow as one call, for tests, benchmarks and the matrix: the same steps the CLI runs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from converter import convert, parsing, sequences, training
from converter.compare import DEFAULT_TOLERANCE, Tolerance
from converter.convert import Converted


@dataclass
class Trained:
    """What ``train_models`` leaves in its folder."""

    parsed: Path
    vocab: Path  # training vocab
    sequences: Path
    deeplog_checkpoint: Path
    mscred_checkpoint: Path | None = None


@dataclass
class PipelineResult(Trained):
    model_dir: Path = Path()  # deeplog.onnx + meta + engine vocab (+ mscred.onnx)
    deeplog: Converted | None = None
    mscred: Converted | None = None


def train_models(log_path, out_dir, fmt: str = "auto", window: int = 10, epochs: int = 5, seed: int = 0,
                 session_col: str | None = None, hidden: int = 64, layers: int = 2, embed_dim: int = 16,
                 mscred: bool = False, mscred_epochs: int = 3, scales=(10, 30, 60), step: int = 5,
                 bucket: float | None = None) -> Trained:
    """Parse the log, build the inputs and train DeepLog (and MSCRED): the CLI's steps up to the checkpoints."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    parsed = out / "parsed.parquet"
    if not parsed.exists():
        parsing.parse_log(log_path, parsed, fmt=fmt)
    sequences.build_deeplog_inputs(parsed, out, window=window, session_col=session_col)
    ckpt = out / "deeplog.pth"
    training.deeplog_checkpoint(out / "sequences.parquet", out / "vocab.json", ckpt, epochs=epochs, seed=seed,
                                hidden=hidden, layers=layers, embed_dim=embed_dim)
    trained = Trained(parsed, out / "vocab.json", out / "sequences.parquet", ckpt)
    if mscred:
        from converter import signatures

        signatures.build_signatures(parsed, out, scales=scales, step=step, bucket=bucket)
        trained.mscred_checkpoint = out / "mscred.pth"
        training.mscred_checkpoint(out / "signatures.npz", trained.mscred_checkpoint, epochs=mscred_epochs, seed=seed)
    return trained


def run_pipeline(log_path, out_dir, fmt: str = "auto", window: int = 10, epochs: int = 5, exporter: str = "auto",
                 seed: int = 0, session_col: str | None = None, hidden: int = 64, layers: int = 2,
                 embed_dim: int = 16, mscred: bool = False, mscred_epochs: int = 3, scales=(10, 30, 60),
                 step: int = 5, bucket: float | None = None, validate: bool = False,
                 model_dir: str | Path | None = None, tolerance: Tolerance = DEFAULT_TOLERANCE) -> PipelineResult:
    """Parse, build inputs, train and convert; ``tolerance`` is the policy every export is verified with."""
    trained = train_models(log_path, out_dir, fmt=fmt, window=window, epochs=epochs, seed=seed,
                           session_col=session_col, hidden=hidden, layers=layers, embed_dim=embed_dim, mscred=mscred,
                           mscred_epochs=mscred_epochs, scales=scales, step=step, bucket=bucket)
    target = Path(model_dir) if model_dir else Path(out_dir) / f"model-{exporter}"
    result = PipelineResult(**vars(trained), model_dir=target)
    result.deeplog = convert.convert_deeplog(trained.deeplog_checkpoint, trained.vocab, target, exporter=exporter,
                                             validate=validate, tolerance=tolerance)
    if trained.mscred_checkpoint is not None:
        result.mscred = convert.convert_mscred(trained.mscred_checkpoint, target, exporter=exporter,
                                               validate=validate, tolerance=tolerance)
    return result
