"""Reference DeepLog detector: the verdicts the C engine (cengine/) must reproduce line for line.

For every physical line of a log (1-based numbers; blank lines are skipped without a verdict):

1. The content is the line after ``header_fields`` leading fields, matched against the engine
   vocab with ``converter.matching.TemplateMatcher``. No match (or a line too short for the
   header) -> anomaly, reason ``unknown_template``; the line does not enter the key history.
2. A matched key with fewer than ``seq_len`` keys before it -> normal, reason ``warmup``.
3. Otherwise the window is the last ``seq_len`` keys; ``rank`` = logits strictly greater than the
   key's own + equal logits at a lower index. ``rank >= top_g`` -> anomaly ``not_in_top_g``, else
   normal ``in_top_g``. Then the key joins the history.

Logs are read as bytes and decoded as UTF-8 with replacement characters, as the parser does, so a
non-UTF-8 log cannot fail. Windows are predicted in chunks of ``batch`` in order of appearance, the
chunking the engine uses (ONNX Runtime's DeepLog logits measured identical across batch sizes; the
shared chunking keeps the comparison exact even where they are not).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from converter import artifacts, metafile
from converter.errors import AlogError, first_line
from converter.logformats import ASCII_WS, read_log_text
from converter.matching import TemplateMatcher

DEFAULT_BATCH = 256

Predict = Callable[[np.ndarray], np.ndarray]  # int64 [n, seq_len] -> float32 [n, vocab]


def read_log(path) -> list[str]:
    """Every physical line of a log file, decoded as the parser decodes (UTF-8, replacement chars)."""
    return read_log_text(path).split("\n")


def rank_of(logits: np.ndarray, key: int) -> int:
    """Position of ``key`` when logits are sorted high to low, ties broken by lower index first."""
    value = logits[key]
    return int(np.count_nonzero(logits > value) + np.count_nonzero(logits[:key] == value))


def _record(line: int, key: int | None, reason: str, rank: int | None) -> dict[str, Any]:
    anomaly = reason in ("unknown_template", "not_in_top_g")
    return {"line": line, "template": key, "verdict": "anomaly" if anomaly else "normal", "reason": reason,
            "rank": rank}


def detect_lines(lines: Iterable[str | bytes], engine_vocab: dict[int, str], header_fields: int, seq_len: int,
                 top_g: int, predict: Predict, batch: int = DEFAULT_BATCH) -> list[dict[str, Any]]:
    """Verdicts for physical lines (numbered from 1 in the order given), one dict per non-blank line."""
    sizes = {"seq_len": seq_len, "top_g": top_g, "header_fields": header_fields, "batch": batch}
    if not all(artifacts.in_bounds(name, value) for name, value in sizes.items()):
        raise AlogError(f"bad detection settings: seq_len={seq_len} top_g={top_g} header_fields={header_fields} "
                        f"batch={batch}")
    matcher = TemplateMatcher(engine_vocab)
    records: list[dict[str, Any]] = []
    windows: list[list[int]] = []
    pending: list[int] = []  # per window: index of its record
    history: deque[int] = deque(maxlen=seq_len)
    for number, line in enumerate(lines, start=1):
        if isinstance(line, bytes):
            line = line.decode("utf-8", errors="replace")
        if not line.strip(ASCII_WS):
            continue
        key = matcher.match_line(line, header_fields)
        if key is None:
            records.append(_record(number, None, "unknown_template", None))
            continue
        if len(history) < seq_len:
            records.append(_record(number, key, "warmup", None))
        else:
            windows.append(list(history))
            pending.append(len(records))
            records.append(_record(number, key, "in_top_g", None))  # rank filled in below
        history.append(key)

    for start in range(0, len(windows), batch):
        x = np.asarray(windows[start:start + batch], dtype=np.int64).reshape(-1, seq_len)
        logits = np.asarray(predict(x))
        if logits.ndim != 2 or logits.shape[0] != len(x):
            raise AlogError(f"predict returned shape {list(logits.shape)} for {len(x)} windows; expected [n, vocab]")
        for row, owner in zip(logits, pending[start:start + batch], strict=True):  # shape checked above
            record = records[owner]
            if not 0 <= record["template"] < row.shape[0]:
                raise AlogError(f"template {record['template']} is outside the model's {row.shape[0]} logits")
            rank = rank_of(row, record["template"])
            records[owner] = _record(record["line"], record["template"],
                                     "not_in_top_g" if rank >= top_g else "in_top_g", rank)
    return records


def ort_predict(onnx_path, input_name: str | None = None, output_name: str | None = None,
                threads: int = 1) -> Predict:
    """A predict callable over one ONNX Runtime session (CPU, ``threads`` intra-op threads), reused."""
    from converter.ortsession import ort_session

    try:
        session = ort_session(onnx_path, threads=threads)
    except Exception as exc:  # noqa: BLE001 - ORT raises its own exception types; one line for the user
        raise AlogError(f"cannot load {onnx_path}: {first_line(exc)}") from None
    feed = input_name or session.get_inputs()[0].name
    fetch = output_name or session.get_outputs()[0].name

    def predict(windows: np.ndarray) -> np.ndarray:
        if np.size(windows) == 0:  # ONNX Runtime's kernels abort the whole process on an empty batch
            raise AlogError(f"no windows to predict (shape {list(np.shape(windows))}): an empty batch or sequence "
                            "cannot be run")
        return session.run([fetch], {feed: np.ascontiguousarray(windows, dtype=np.int64)})[0]

    return predict


@dataclass(frozen=True)
class DeepLogDir:
    """A converted model directory, as the engine loads it."""

    onnx_path: Path
    meta: dict[str, Any]
    engine_vocab: dict[int, str]

    @property
    def seq_len(self) -> int:
        return int(self.meta["seq_len"])

    @property
    def header_fields(self) -> int:
        return int(self.meta["header_fields"])

    @property
    def top_g(self) -> int:
        return int(self.meta.get("top_g", artifacts.DEFAULT_TOP_G))

    def predict(self, threads: int = 1) -> Predict:
        return ort_predict(self.onnx_path, self.meta["input_name"], self.meta["output_name"], threads)


def load_model_dir(model_dir) -> DeepLogDir:
    """Read deeplog.onnx's metadata and the engine vocab, refusing what the engine would refuse."""
    from converter.vocab import load_engine_vocab

    model_dir = Path(model_dir)
    onnx_path = model_dir / artifacts.DEEPLOG_ONNX
    meta_path = artifacts.meta_path(onnx_path)
    if not onnx_path.is_file():
        raise AlogError(f"{onnx_path} not found")
    meta = metafile.load(meta_path, f"{meta_path} not found")  # the engine's contract, the engine's verdict
    metafile.require_deeplog(meta, str(meta_path))
    engine_vocab = load_engine_vocab(model_dir / artifacts.ENGINE_VOCAB)
    if len(engine_vocab) != int(meta["vocab_size"]):
        raise AlogError(f"{model_dir / artifacts.ENGINE_VOCAB} has {len(engine_vocab)} templates but "
                        f"{meta_path} says vocab_size {meta['vocab_size']}")
    return DeepLogDir(onnx_path, meta, engine_vocab)


def detect_file(log_path, model_dir, top_g: int | None = None, predict: Predict | None = None,
                batch: int = DEFAULT_BATCH) -> list[dict[str, Any]]:
    """The engine's detection mode in Python: a log file against a model directory."""
    model = load_model_dir(model_dir)
    return detect_lines(read_log(log_path), model.engine_vocab, model.header_fields, model.seq_len,
                        model.top_g if top_g is None else top_g, predict or model.predict(), batch)
