"""Training loops: small, seeded, deterministic for a given seed on a given machine."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Callable, Iterator

import numpy as np
import torch
from torch import nn

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
