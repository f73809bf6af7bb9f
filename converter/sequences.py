"""Parsed table -> DeepLog inputs: a training vocab and sliding windows of template indices.

Each window of ``window`` consecutive template indices is paired with the index that follows it.
Windows never cross a session boundary. Sessions are, in order of preference: the column named by
``session_col``; the table's ``session`` column (HDFS block ids) when it has values; otherwise
the whole log, in line order. ``session_col="none"`` forces the whole-log reading even when a
``session`` column exists (Loghub's HDFS_2k sample, for one, is a random draw whose block-id
sessions hold one or two lines each).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from converter.errors import AlogError
from converter.parsing import read_parquet, read_parsed, write_table
from converter.vocab import build_training_vocab, write_training_vocab

VOCAB_FILE = "vocab.json"
SEQUENCES_FILE = "sequences.parquet"
NO_SESSIONS = "none"


def _sessions(frame, session_col: str | None) -> tuple[list[np.ndarray], int]:
    """Row positions of each session (first-appearance order), and how many rows had no session."""
    if session_col == NO_SESSIONS:
        return [np.arange(len(frame))], 0
    if session_col is None:
        if "session" not in frame.columns or frame["session"].isna().all():
            return [np.arange(len(frame))], 0
        session_col = "session"
    elif session_col not in frame.columns:
        raise AlogError(f"unknown session column {session_col!r}; the table has {', '.join(frame.columns)}")
    keys = frame[session_col]
    groups = frame.groupby(keys, sort=False, dropna=True).indices  # positions, in line order
    return [np.asarray(rows) for rows in groups.values()], int(keys.isna().sum())


def build_deeplog_inputs(parsed_path, out_dir, window: int = 10, template_col: str = "template",
                         session_col=None) -> dict:
    """Write ``out_dir/vocab.json`` (training format) and ``out_dir/sequences.parquet``."""
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise AlogError(f"window must be a positive integer, got {window!r}")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise AlogError(f"output directory {out_dir} is a file")
    for target in (out_dir / VOCAB_FILE, out_dir / SEQUENCES_FILE):
        if target.is_dir():  # refuse before writing either file, so none is left orphaned
            raise AlogError(f"output path {target} is a directory")
    parsed = read_parsed(parsed_path)
    fmt, header_fields = parsed.attrs["log_format"], parsed.attrs["header_fields"]
    frame = parsed.sort_values("line_id", kind="stable").reset_index(drop=True)
    if template_col not in frame.columns:
        raise AlogError(f"unknown template column {template_col!r}; the table has {', '.join(frame.columns)}")
    templates = frame[template_col]
    if templates.isna().any() or not all(isinstance(t, str) for t in templates):
        raise AlogError(f"column {template_col!r} does not hold template strings; vocabs are keyed by template text")

    vocab = build_training_vocab(templates)
    keys = templates.map(vocab).to_numpy(np.int64)
    sessions, unsessioned = _sessions(frame, session_col)
    longest = max(len(rows) for rows in sessions)
    if longest <= window:
        hint = ("" if len(sessions) == 1
                else f"; or pass session column {NO_SESSIONS!r} to use the whole log as one session")
        raise AlogError(
            f"window {window} needs a session of at least {window + 1} lines; the longest session has {longest}{hint}"
        )

    windows, nexts = [], []
    for rows in sessions:
        if len(rows) > window:
            seq = keys[rows]
            # Windows slide by one line inside the session; the last line is never a window start.
            windows.append(np.lib.stride_tricks.sliding_window_view(seq[:-1], window))
            nexts.append(seq[window:])
    X = np.concatenate(windows)
    y = np.concatenate(nexts)

    table = pa.table({
        "window": pa.FixedSizeListArray.from_arrays(pa.array(X.ravel(), pa.int64()), window).cast(pa.list_(pa.int64())),
        "next": pa.array(y, pa.int64()),
    }).replace_schema_metadata({
        b"alog.window": str(window).encode(),
        b"alog.log_format": fmt.encode(),
        b"alog.header_fields": str(header_fields).encode(),
        b"alog.vocab_size": str(len(vocab)).encode(),
    })
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AlogError(f"cannot create output directory {out_dir}: {exc.strerror or exc}") from None
    write_training_vocab(out_dir / VOCAB_FILE, vocab)
    write_table(table, out_dir / SEQUENCES_FILE)
    return {
        "vocab": str(out_dir / VOCAB_FILE),
        "sequences": str(out_dir / SEQUENCES_FILE),
        "vocab_size": len(vocab),
        "window": window,
        "windows": int(len(y)),
        "sessions": len(sessions),
        "longest_session": int(longest),
        "lines_without_session": unsessioned,
        "log_format": fmt,
    }


def load_sequences(path) -> tuple[np.ndarray, np.ndarray, dict]:
    """(X int64 [n, window], y int64 [n], meta) from a sequences.parquet, checked."""
    path = Path(path)
    table = read_parquet(path, "sequences file")
    if set(table.column_names) != {"window", "next"}:
        found = ", ".join(table.column_names)
        raise AlogError(f"{path} must have exactly the columns window and next, found {found}")
    windows = table.column("window").combine_chunks()
    is_list = pa.types.is_list(windows.type) or pa.types.is_large_list(windows.type)
    if not is_list or not pa.types.is_integer(windows.type.value_type):
        raise AlogError(f"{path}: column window must be lists of integers, found {windows.type}")
    if not pa.types.is_integer(table.column("next").type):
        raise AlogError(f"{path}: column next must be integers, found {table.column('next').type}")
    if len(table) == 0:
        raise AlogError(f"{path} holds no windows")
    if windows.null_count or table.column("next").null_count or windows.flatten().null_count:
        raise AlogError(f"{path} has missing values")

    meta_raw = table.schema.metadata or {}
    meta: dict = {k.decode().removeprefix("alog."): v.decode() for k, v in meta_raw.items() if k.startswith(b"alog.")}
    for key in ("window", "header_fields", "vocab_size"):
        if key in meta:
            try:
                meta[key] = int(meta[key])
            except ValueError:
                raise AlogError(f"{path}: metadata alog.{key} is not an integer") from None

    lengths = np.asarray(windows.value_lengths())
    width = int(meta.get("window", lengths[0]))
    if width < 1 or (lengths != width).any():
        raise AlogError(f"{path} has ragged windows: lengths {sorted(set(lengths.tolist()))[:5]}, expected {width}")
    X = np.asarray(windows.flatten(), dtype=np.int64).reshape(len(table), width)
    y = np.asarray(table.column("next").to_numpy(), dtype=np.int64)
    if (X < 0).any() or (y < 0).any():
        raise AlogError(f"{path} holds negative template indices")
    if "vocab_size" in meta and (X.max() >= meta["vocab_size"] or y.max() >= meta["vocab_size"]):
        raise AlogError(f"{path} holds template indices beyond its vocab size {meta['vocab_size']}")
    meta["window"] = width
    return X, y, meta
