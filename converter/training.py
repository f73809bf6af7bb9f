"""Training loops: small, seeded, deterministic for a given seed on a given machine."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from converter.errors import AlogError
from converter.models import MSCRED, DeepLog, DeepLogConfig, MSCREDConfig


@contextmanager
def _progress(description: str, total: int) -> Iterator:
    """A progress bar on a terminal; one plain line per epoch otherwise (CI logs)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    if sys.stderr.isatty():
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                      TextColumn("{task.fields[status]}"), TimeElapsedColumn(), transient=False) as progress:
            task = progress.add_task(description, total=total, status="")
            yield lambda epoch, status: progress.update(task, completed=epoch, status=status)
    else:
        yield lambda epoch, status: print(f"{description}: epoch {epoch}/{total} {status}", file=sys.stderr)


def _seeded(seed: int) -> torch.Generator:
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))
    return torch.Generator().manual_seed(seed)


def _fit(model: nn.Module, samples: int, batch_loss: Callable[[torch.Tensor], torch.Tensor], label: str,
         epochs: int, batch_size: int, lr: float, generator: torch.Generator) -> list[float]:
    """Adam over shuffled mini-batches; returns the mean loss of each epoch."""
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    history: list[float] = []
    with _progress(label, epochs) as update:
        for epoch in range(1, epochs + 1):
            model.train()
            total = 0.0
            for batch in torch.randperm(samples, generator=generator).split(batch_size):
                optimiser.zero_grad()
                loss = batch_loss(batch)
                loss.backward()
                optimiser.step()
                total += loss.item() * len(batch)
            history.append(total / samples)
            update(epoch, f"loss {history[-1]:.6f}")
    model.eval()
    return history


def train_deeplog(windows: np.ndarray, targets: np.ndarray, config: DeepLogConfig, epochs: int = 10,
                  seed: int = 0, batch_size: int = 128, lr: float = 3e-3) -> tuple[DeepLog, list[float]]:
    generator = _seeded(seed)
    model = DeepLog(config)
    x = torch.tensor(np.asarray(windows), dtype=torch.int64)  # a copy: parquet arrays are read-only
    y = torch.tensor(np.asarray(targets), dtype=torch.int64)
    loss_fn = nn.CrossEntropyLoss()
    history = _fit(model, len(x), lambda batch: loss_fn(model(x[batch]), y[batch]), "deeplog-train",
                   epochs, batch_size, lr, generator)
    return model, history


def train_mscred(windows: np.ndarray, config: MSCREDConfig, epochs: int = 10, seed: int = 0,
                 batch_size: int = 16, lr: float = 1e-3) -> tuple[MSCRED, list[float]]:
    """Learn to reconstruct the last step's signature matrices from the `step` preceding ones."""
    generator = _seeded(seed)
    model = MSCRED(config)
    x = torch.tensor(np.asarray(windows), dtype=torch.float32)
    history = _fit(model, len(x), lambda batch: torch.mean((model(x[batch]) - x[batch, -1]) ** 2), "mscred-train",
                   epochs, batch_size, lr, generator)
    return model, history


def deeplog_checkpoint(seq_path, vocab_path, out, *, epochs: int = 10, seed: int = 0, hidden: int = 64,
                       layers: int = 2, embed_dim: int = 16) -> dict:
    """sequences.parquet + training vocab -> a DeepLog checkpoint tied to that vocab and log format."""
    from converter import atomic, checkpoint, sequences, vocab

    atomic.check_target(out)  # a directory there is refused before training, not after
    x, y, meta = sequences.load_sequences(seq_path)
    training_vocab = vocab.load_training_vocab(vocab_path)
    if len(x) == 0:
        raise AlogError(f"{seq_path} holds no windows to train on")
    top = int(max(x.max(), y.max()))
    if top >= len(training_vocab):
        raise AlogError(f"{seq_path} uses template index {top}, outside the {len(training_vocab)}-entry vocab "
                        f"{vocab_path}")
    config = DeepLogConfig(vocab_size=len(training_vocab), seq_len=int(x.shape[1]), hidden=hidden, layers=layers,
                           embed_dim=embed_dim)
    model, history = train_deeplog(x, y, config, epochs=epochs, seed=seed)
    checkpoint.save(out, "deeplog", model, extra={
        "vocab_sha256": checkpoint.vocab_digest(training_vocab),
        "log_format": meta.get("log_format", "raw"),
        "header_fields": int(meta.get("header_fields", 0)),
        "seed": seed, "epochs": epochs, "loss": history,
    })
    return {"windows": len(x), "loss": history}


def mscred_checkpoint(signatures_path, out, *, epochs: int = 10, seed: int = 0) -> dict:
    """signatures.npz -> an MSCRED checkpoint (make_windows refuses too few time points)."""
    from converter import atomic, checkpoint, signatures

    atomic.check_target(out)
    data = signatures.load_signatures(signatures_path)
    step = int(data["step"])
    windows = signatures.make_windows(data["signatures"], step)
    _, _, scales, sensors, _ = windows.shape
    config = MSCREDConfig(sensors=int(sensors), scales=int(scales), step=step)
    model, history = train_mscred(windows, config, epochs=epochs, seed=seed)
    checkpoint.save(out, "mscred", model, extra={
        "scale_windows": [int(s) for s in data["scales"]], "seed": seed, "epochs": epochs, "loss": history,
    })
    return {"windows": len(windows), "loss": history}
