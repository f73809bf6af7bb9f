"""The golden inputs every model of an interface gets, whatever its origin (a reference model or a hub
entry): id windows for a next-template model, signature matrices for a signature-matrix one, and the
detector's own windows of a log. Seeded by the caller's generator, drawn in a fixed order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

BATCHES = (1, 7, 64)
LOG_WINDOWS = 256  # the detector's windows of a log, at most


def id_window_cases(rng, vocab_size: int, window: int) -> dict[str, Any]:
    """Random ids at batches 1, 7, 64 and lengths 1, W, 2W, 4W+3, and the edge ids 0 and vocab-1."""
    import numpy as np

    cases = {f"random-b{b}-l{n}": rng.integers(0, vocab_size, (b, n), dtype=np.int64)
             for b in BATCHES for n in sorted({1, window, 2 * window, 4 * window + 3})}
    cases[f"edges-b7-l{window}"] = np.resize(np.array([0, vocab_size - 1], dtype=np.int64), (7, window))
    return cases


def matrix_cases(rng, step: int, scales: int, sensors: int) -> dict[str, Any]:
    """Random matrices at batches 1, 7, 64, and zero, constant and sparse ones."""
    import numpy as np

    shape = (step, scales, sensors, sensors)
    cases = {f"random-b{b}": rng.random((b, *shape), dtype=np.float32) for b in BATCHES}
    cases["zeros-b7"] = np.zeros((7, *shape), np.float32)
    cases["constant-b7"] = np.full((7, *shape), 0.5, np.float32)
    sparse = rng.random((7, *shape), dtype=np.float32)
    cases["sparse-b7"] = np.where(rng.random(sparse.shape) < 0.1, sparse, np.float32(0)).astype(np.float32)
    return cases


def detector_windows(log: Path, training_vocab: dict[str, int], header_fields: int, window: int):
    """The windows the detector builds from ``log`` with this vocab, as it would run them (at most
    LOG_WINDOWS; none when no line matches a template)."""
    import numpy as np

    from converter import vocab as vocab_mod
    from converter.detection import detect_lines, read_log

    windows: list[np.ndarray] = []
    size = len(training_vocab)

    def record(x: np.ndarray) -> np.ndarray:
        windows.append(np.array(x))
        return np.zeros((len(x), size), dtype=np.float32)

    engine_vocab = {int(k): v for k, v in vocab_mod.to_engine_format(training_vocab).items()}
    detect_lines(read_log(log), engine_vocab, header_fields, window, 0, record)
    found = np.concatenate(windows)[:LOG_WINDOWS] if windows else np.zeros((0, window), np.int64)
    return found.astype(np.int64)
