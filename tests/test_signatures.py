"""MSCRED signature matrices: the definition checked by hand, real logs, and refusals."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from converter.errors import AlogError
from converter.parsing import read_parsed
from converter.signatures import (
    LINES_PER_BUCKET,
    build_signatures,
    load_signatures,
    make_windows,
    signature_matrices,
    template_counts,
)


def parsed_table(tmp_path, templates, timestamps=None):
    n = len(templates)
    ts = [float("nan")] * n if timestamps is None else timestamps
    table = pa.table({
        "line_id": pa.array(range(1, n + 1), pa.int64()), "content": templates,
        "template_id": pa.array([0] * n, pa.int64()), "template": templates,
        "timestamp": pa.array(ts, pa.float64()),
    }).replace_schema_metadata({b"alog.log_format": b"raw", b"alog.header_fields": b"0"})
    pq.write_table(table, tmp_path / "p.parquet")
    return tmp_path / "p.parquet"


def test_signature_definition_by_hand():
    x = np.array([[1, 0], [2, 1], [0, 3], [1, 1]], dtype=np.float64)  # T=4 buckets, 2 sensors
    m = signature_matrices(x, (1, 2))
    assert m.shape == (3, 2, 2, 2) and m.dtype == np.float32  # t = 1, 2, 3 have a 2-bucket history
    raw_w2_t2 = (np.outer(x[1], x[1]) + np.outer(x[2], x[2])) / 2  # [[2, 1], [1, 5]]
    raw_w1_t2 = np.outer(x[2], x[2])  # [[0, 0], [0, 9]]: the global peak
    np.testing.assert_allclose(m[1, 1], raw_w2_t2 / 9, rtol=1e-6)
    np.testing.assert_allclose(m[1, 0], raw_w1_t2 / 9, rtol=1e-6)
    assert m.max() == 1.0 and m.min() >= 0.0
    np.testing.assert_array_equal(signature_matrices(np.zeros((3, 2)), (2,)), np.zeros((2, 1, 2, 2)))


def test_line_buckets_on_bgl(tmp_path, parsed_logs):
    summary = build_signatures(parsed_logs["BGL"], tmp_path / "out", scales=(10, 30, 60), step=5)
    data = load_signatures(tmp_path / "out/signatures.npz")
    parsed = read_parsed(parsed_logs["BGL"])
    n = parsed["template"].nunique()
    assert data["templates"] == sorted(set(parsed["template"]))
    assert summary["time_points"] == 2000 // LINES_PER_BUCKET and summary["bucket_lines"] == LINES_PER_BUCKET
    assert data["signatures"].shape == (200 - 60 + 1, 3, n, n)
    assert summary["shape"] == [141, 3, n, n] and summary["matrices"] == 141
    assert data["scales"].tolist() == [10, 30, 60] and data["step"] == 5 and np.isnan(data["bucket_seconds"])
    sig = data["signatures"]
    assert sig.max() == 1.0 and sig.min() >= 0.0
    np.testing.assert_array_equal(sig, sig.transpose(0, 1, 3, 2))  # co-occurrence is symmetric
    counts = template_counts(parsed, data["templates"], None)
    assert counts.sum() == 2000 and counts.shape == (200, n)


def test_time_buckets_on_openssh(tmp_path, parsed_logs):
    summary = build_signatures(parsed_logs["OpenSSH"], tmp_path / "out", scales=(2, 5), step=3, bucket=60)
    data = load_signatures(tmp_path / "out/signatures.npz")
    parsed = read_parsed(parsed_logs["OpenSSH"])
    span = parsed["timestamp"].max() - parsed["timestamp"].min()
    assert summary["time_points"] == int(span // 60) + 1
    assert data["bucket_seconds"] == 60.0
    assert data["signatures"].shape[0] == summary["time_points"] - 5 + 1


def test_make_windows_are_consecutive_steps():
    sig = np.arange(6 * 2 * 3 * 3, dtype=np.float32).reshape(6, 2, 3, 3)
    windows = make_windows(sig, 4)
    assert windows.shape == (3, 4, 2, 3, 3) and windows.dtype == np.float32
    np.testing.assert_array_equal(windows[0], sig[0:4])
    np.testing.assert_array_equal(windows[2, -1], sig[5])  # target of the last window
    with pytest.raises(AlogError, match="fewer than the step 7"):
        make_windows(sig, 7)
    with pytest.raises(AlogError, match="step must be"):
        make_windows(sig, 0)
    with pytest.raises(AlogError, match="time, scales"):
        make_windows(sig[0], 1)


def test_build_refusals(tmp_path):
    parsed = parsed_table(tmp_path, ["a", "b"] * 50)  # 100 lines -> 10 line buckets
    for bad in ([], [0, 2], [1.5], "ab", [True]):
        with pytest.raises(AlogError, match="scales"):
            build_signatures(parsed, tmp_path / "out", scales=bad)
    with pytest.raises(AlogError, match="step"):
        build_signatures(parsed, tmp_path / "out", scales=(2,), step=0)
    with pytest.raises(AlogError, match="bucket"):
        build_signatures(parsed, tmp_path / "out", scales=(2,), bucket=-5)
    with pytest.raises(AlogError, match="gives 10 time points .* need at least 11"):
        build_signatures(parsed, tmp_path / "out", scales=(2, 8), step=3)
    with pytest.raises(AlogError, match="needs timestamps"):
        build_signatures(parsed, tmp_path / "out", scales=(2,), step=1, bucket=10)
    (tmp_path / "file").write_text("x")
    with pytest.raises(AlogError, match="is a file"):
        build_signatures(parsed, tmp_path / "file", scales=(2,), step=1)
    assert not (tmp_path / "out").exists()
    (tmp_path / "out2" / "signatures.npz").mkdir(parents=True)
    with pytest.raises(AlogError, match="is a directory"):
        build_signatures(parsed, tmp_path / "out2", scales=(2,), step=1)
    build_signatures(parsed, tmp_path / "out", scales=(2, 8), step=2)  # exactly enough: 10 >= 8 + 2


def test_load_refusals(tmp_path):
    with pytest.raises(AlogError, match="not found"):
        load_signatures(tmp_path / "none.npz")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(AlogError, match="not a signatures"):
        load_signatures(tmp_path / "junk.npz")

    good = dict(
        signatures=np.zeros((4, 2, 3, 3), np.float32), scales=np.array([1, 2]), step=np.int64(2),
        bucket_seconds=np.float64(60), templates=np.array(["a", "b", "c"]),
    )

    def save(**changes):
        arrays = {k: v for k, v in {**good, **changes}.items() if v is not None}
        np.savez(tmp_path / "s.npz", **arrays)
        return tmp_path / "s.npz"

    assert load_signatures(save())["templates"] == ["a", "b", "c"]
    cases = [
        ({"templates": None}, "lacks"),
        ({"signatures": np.zeros((4, 2, 3, 3), np.float64)}, "float32"),
        ({"signatures": np.zeros((4, 2, 3, 2), np.float32)}, "does not fit"),
        ({"scales": np.array([0, 2])}, "scales"),
        ({"step": np.int64(9)}, "fewer than its step"),
        ({"step": np.array([1, 2])}, "step"),
        ({"signatures": np.full((4, 2, 3, 3), 2.0, np.float32)}, r"\[0, 1\]"),
        ({"signatures": np.full((4, 2, 3, 3), np.nan, np.float32)}, "finite"),
    ]
    for changes, message in cases:
        with pytest.raises(AlogError, match=message):
            load_signatures(save(**changes))
