"""Parsed table -> MSCRED inputs: multi-scale signature matrices of template co-occurrence.

Each template is a "sensor" whose series x_i(t) counts its lines in time bucket t. Sensors are the
sorted template strings (the same order as the training vocab). Buckets are either

- ``bucket`` seconds wide, from the parsed ``timestamp`` column (empty buckets are real zeros), or
- when ``bucket`` is None, ``LINES_PER_BUCKET`` consecutive lines each: logs without timestamps
  (``raw``) still work, and a bucket holds enough lines for co-occurrence to mean something. A
  trailing partial bucket is dropped: its low counts would look like an activity drop.

For every bucket t with a full history of the longest scale (t >= max(scales) - 1, 0-based) and
every scale w: M[t, s, i, j] = sum_{k=0..w-1} x_i(t-k) x_j(t-k) / w. All matrices are then divided
by their single global maximum, so values lie in [0, 1] and relative sizes between scales and
times survive (an all-zero series stays zero).
"""

from __future__ import annotations

import math
import zipfile
from numbers import Real
from pathlib import Path

import numpy as np

from converter import atomic
from converter.errors import AlogError
from converter.parsing import read_parsed

SIGNATURES_FILE = "signatures.npz"
LINES_PER_BUCKET = 10
REQUIRED_KEYS = ("signatures", "scales", "step", "bucket_seconds", "templates")


def _check_params(scales, step, bucket) -> tuple[int, ...]:
    try:
        scales = tuple(scales)
    except TypeError:
        raise AlogError(f"scales must be a list of positive integers, got {scales!r}") from None
    if not scales or any(isinstance(w, bool) or not isinstance(w, (int, np.integer)) or int(w) < 1 for w in scales):
        raise AlogError(f"scales must be a non-empty list of positive integers, got {list(scales)!r}")
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 1:
        raise AlogError(f"step must be a positive integer, got {step!r}")
    bucket_ok = bucket is None or (not isinstance(bucket, bool) and isinstance(bucket, Real)
                                   and math.isfinite(float(bucket)) and float(bucket) > 0)
    if not bucket_ok:
        raise AlogError(f"bucket must be a positive number of seconds, got {bucket!r}")
    return tuple(int(w) for w in scales)


def _bucket_index(frame, bucket) -> np.ndarray:
    """Time-bucket number of every row (or -1 for rows that fall in no bucket)."""
    if bucket is None:
        index = np.arange(len(frame)) // LINES_PER_BUCKET
        full = (len(frame) // LINES_PER_BUCKET) * LINES_PER_BUCKET
        index[full:] = -1
        return index
    ts = frame["timestamp"].to_numpy(np.float64)
    known = ~np.isnan(ts)
    if not known.any():
        raise AlogError(
            f"a bucket of {bucket} seconds needs timestamps and this {frame.attrs['log_format']} log has none; "
            f"omit the bucket to count {LINES_PER_BUCKET} lines per bucket"
        )
    index = np.full(len(frame), -1, dtype=np.int64)
    index[known] = np.floor((ts[known] - ts[known].min()) / bucket).astype(np.int64)
    return index


def template_counts(frame, sensors: list[str], bucket) -> np.ndarray:
    """x[t, i]: lines of template ``sensors[i]`` in bucket t."""
    index = _bucket_index(frame, bucket)
    column = {t: i for i, t in enumerate(sensors)}
    keep = index >= 0
    counts = np.zeros((int(index.max()) + 1 if keep.any() else 0, len(sensors)), dtype=np.float64)
    np.add.at(counts, (index[keep], frame["template"].map(column).to_numpy()[keep]), 1.0)
    return counts


def signature_matrices(counts: np.ndarray, scales: tuple[int, ...]) -> np.ndarray:
    """[T', n_scales, n, n] float32 in [0, 1] for the T' = T - max(scales) + 1 full-history buckets."""
    longest = max(scales)
    out = []
    for w in scales:
        # windows[t] = x over buckets t..t+w-1, as [n, w]; the product sums outer products over k.
        windows = np.lib.stride_tricks.sliding_window_view(counts, w, axis=0)[longest - w:]
        out.append(np.einsum("tiw,tjw->tij", windows, windows) / w)
    matrices = np.stack(out, axis=1)
    peak = matrices.max(initial=0.0)
    if peak > 0:  # all-zero input stays zero instead of dividing by zero
        matrices = matrices / peak
    return matrices.astype(np.float32)


def build_signatures(parsed_path, out_dir, scales=(10, 30, 60), step: int = 5, bucket=None) -> dict:
    """Write ``out_dir/signatures.npz`` for MSCRED."""
    scales = _check_params(scales, step, bucket)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise AlogError(f"output directory {out_dir} is a file")
    frame = read_parsed(parsed_path).sort_values("line_id", kind="stable")
    sensors = sorted(set(frame["template"]))
    counts = template_counts(frame, sensors, bucket)
    needed = max(scales) + step
    if len(counts) < needed:
        unit = f"{bucket}-second" if bucket is not None else f"{LINES_PER_BUCKET}-line"
        raise AlogError(
            f"the log gives {len(counts)} time points ({unit} buckets) but scales up to {max(scales)} "
            f"with step {step} need at least {needed}"
        )
    signatures = signature_matrices(counts, scales)
    target = out_dir / SIGNATURES_FILE
    if target.is_dir():
        raise AlogError(f"output path {target} is a directory")
    try:
        with atomic.atomic_path(target) as tmp, open(tmp, "wb") as fh:  # a file object: np.savez adds ".npz" to paths
            np.savez(
                fh,
                signatures=signatures,
                scales=np.asarray(scales, dtype=np.int64),
                step=np.int64(step),
                bucket_seconds=np.float64(np.nan if bucket is None else bucket),
                bucket_lines=np.int64(LINES_PER_BUCKET if bucket is None else 0),
                templates=np.asarray(sensors, dtype=str),
            )
    except OSError as exc:
        raise AlogError(f"cannot write {target}: {exc.strerror or exc}") from None
    return {
        "signatures": str(target),
        "time_points": int(len(counts)),
        "matrices": int(len(signatures)),
        "shape": list(signatures.shape),
        "sensors": len(sensors),
        "scales": list(scales),
        "step": int(step),
        "bucket_seconds": None if bucket is None else float(bucket),
        "bucket_lines": LINES_PER_BUCKET if bucket is None else None,
    }


def load_signatures(path) -> dict:
    """The arrays of a signatures.npz, checked for shape, type and range."""
    path = Path(path)
    if not path.is_file():
        raise AlogError(f"signatures file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {key: npz[key] for key in npz.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise AlogError(f"not a signatures .npz file: {path} ({type(exc).__name__})") from None
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise AlogError(f"{path} lacks array(s) {', '.join(missing)}")
    sig, scales, templates = data["signatures"], data["scales"], data["templates"]
    if sig.dtype != np.float32 or sig.ndim != 4:
        raise AlogError(f"{path}: signatures must be float32 [time, scales, sensors, sensors], found {sig.dtype} "
                        f"{list(sig.shape)}")
    if scales.ndim != 1 or scales.dtype.kind not in "iu" or (scales < 1).any():
        raise AlogError(f"{path}: scales must be a list of positive integers")
    if templates.ndim != 1 or templates.dtype.kind != "U":
        raise AlogError(f"{path}: templates must be a list of strings")
    n = len(templates)
    if sig.shape[1:] != (len(scales), n, n):
        raise AlogError(f"{path}: signatures shape {list(sig.shape)} does not fit {len(scales)} scales and {n} sensors")
    if data["step"].shape != () or data["step"].dtype.kind not in "iu" or int(data["step"]) < 1:
        raise AlogError(f"{path}: step must be a positive integer scalar")
    step = int(data["step"])
    if len(sig) < step:
        raise AlogError(f"{path} holds {len(sig)} signature matrices, fewer than its step {step}")
    if not np.isfinite(sig).all() or sig.min(initial=0) < 0 or sig.max(initial=0) > 1:
        raise AlogError(f"{path}: signatures must be finite and within [0, 1]")
    return {
        "signatures": sig,
        "scales": scales.astype(np.int64),
        "step": step,
        "bucket_seconds": float(data["bucket_seconds"]),
        "templates": templates.tolist(),
    }


def make_windows(signatures: np.ndarray, step: int) -> np.ndarray:
    """[N, step, scales, sensors, sensors] float32: every run of ``step`` consecutive matrices.

    MSCRED reconstructs the last matrix of each window, so the training target of window k is
    ``windows[k, -1]``.
    """
    signatures = np.asarray(signatures)
    if signatures.ndim != 4:
        raise AlogError(f"signatures must be [time, scales, sensors, sensors], got shape {list(signatures.shape)}")
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 1:
        raise AlogError(f"step must be a positive integer, got {step!r}")
    if len(signatures) < step:
        raise AlogError(f"{len(signatures)} signature matrices are fewer than the step {step}")
    windows = np.lib.stride_tricks.sliding_window_view(signatures, step, axis=0)  # [N, S, n, n, step]
    return np.ascontiguousarray(np.moveaxis(windows, -1, 1), dtype=np.float32)
