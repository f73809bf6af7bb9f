"""The whole flow as one call, for tests, benchmarks and the matrix: the same steps the CLI runs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from converter import checkpoint, convert, parsing, sequences, training, vocab
from converter.convert import Converted
from converter.models import DeepLogConfig, MSCREDConfig


@dataclass
class PipelineResult:
    parsed: Path
    vocab: Path  # training vocab
    sequences: Path
    deeplog_checkpoint: Path
    model_dir: Path  # deeplog.onnx + meta + engine vocab (+ mscred.onnx)
    deeplog: Converted
    mscred_checkpoint: Path | None = None
    mscred: Converted | None = None


def run_pipeline(log_path, out_dir, fmt: str = "auto", window: int = 10, epochs: int = 5, exporter: str = "auto",
                 seed: int = 0, session_col: str | None = None, hidden: int = 64, layers: int = 2,
                 embed_dim: int = 16, mscred: bool = False, mscred_epochs: int = 3, scales=(10, 30, 60),
                 step: int = 5, bucket: float | None = None, validate: bool = False,
                 model_dir: str | Path | None = None) -> PipelineResult:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    parsed = out / "parsed.parquet"
    if not parsed.exists():
        parsing.parse_log(log_path, parsed, fmt=fmt)
    sequences.build_deeplog_inputs(parsed, out, window=window, session_col=session_col)
    x, y, meta = sequences.load_sequences(out / "sequences.parquet")
    training_vocab = vocab.load_training_vocab(out / "vocab.json")
    config = DeepLogConfig(vocab_size=len(training_vocab), seq_len=window, hidden=hidden, layers=layers,
                           embed_dim=embed_dim)
    model, history = training.train_deeplog(x, y, config, epochs=epochs, seed=seed)
    ckpt = out / "deeplog.pth"
    checkpoint.save(ckpt, "deeplog", model, extra={
        "vocab_sha256": checkpoint.vocab_digest(training_vocab), "log_format": meta.get("log_format", "raw"),
        "header_fields": int(meta.get("header_fields", 0)), "seed": seed, "epochs": epochs, "loss": history})
    model_dir = Path(model_dir) if model_dir else out / f"model-{exporter}"
    deeplog = convert.convert_deeplog(ckpt, out / "vocab.json", model_dir, exporter=exporter, validate=validate)
    result = PipelineResult(parsed, out / "vocab.json", out / "sequences.parquet", ckpt, model_dir, deeplog)
    if mscred:
        from converter import signatures

        signatures.build_signatures(parsed, out, scales=scales, step=step, bucket=bucket)
        data = signatures.load_signatures(out / "signatures.npz")
        windows = signatures.make_windows(data["signatures"], int(data["step"]))
        _, _, n_scales, sensors, _ = windows.shape
        m_config = MSCREDConfig(sensors=int(sensors), scales=int(n_scales), step=int(data["step"]))
        m_model, m_history = training.train_mscred(windows, m_config, epochs=mscred_epochs, seed=seed)
        m_ckpt = out / "mscred.pth"
        checkpoint.save(m_ckpt, "mscred", m_model, extra={
            "scale_windows": [int(s) for s in data["scales"]], "seed": seed, "loss": m_history})
        result.mscred_checkpoint = m_ckpt
        result.mscred = convert.convert_mscred(m_ckpt, model_dir, exporter=exporter, validate=validate)
    return result
