"""DeepLog inputs: windows inside sessions, vocab by template string, and refusals."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from converter.errors import AlogError
from converter.parsing import parse_log, read_parsed
from converter.sequences import build_deeplog_inputs, load_sequences
from converter.vocab import load_training_vocab


def parsed_table(tmp_path, templates, sessions=None, name="p.parquet"):
    """A small parsed table written the way parse_log writes it."""
    columns = {
        "line_id": pa.array(range(1, len(templates) + 1), pa.int64()),
        "content": templates,
        "template_id": pa.array([hash(t) % 1000 for t in templates], pa.int64()),
        "template": templates,
        "timestamp": pa.array([float("nan")] * len(templates)),
    }
    if sessions is not None:
        columns["session"] = pa.array(sessions, pa.string())
    table = pa.table(columns).replace_schema_metadata({b"alog.log_format": b"hdfs", b"alog.header_fields": b"5"})
    pq.write_table(table, tmp_path / name)
    return tmp_path / name


def test_whole_log_windows_on_bgl(tmp_path, parsed_logs):
    summary = build_deeplog_inputs(parsed_logs["BGL"], tmp_path / "out", window=10)
    parsed = read_parsed(parsed_logs["BGL"])
    vocab = load_training_vocab(tmp_path / "out/vocab.json")
    assert list(vocab) == sorted(set(parsed["template"]))
    X, y, meta = load_sequences(tmp_path / "out/sequences.parquet")
    assert X.shape == (2000 - 10, 10) and y.shape == (1990,) and X.dtype == y.dtype == np.int64
    keys = parsed["template"].map(vocab).to_numpy()
    np.testing.assert_array_equal(X[0], keys[:10])
    np.testing.assert_array_equal(X[-1], keys[-11:-1])
    np.testing.assert_array_equal(y, keys[10:])
    assert meta == {"window": 10, "log_format": "bgl", "header_fields": 9, "vocab_size": len(vocab)}
    assert summary["windows"] == 1990 and summary["sessions"] == 1 and summary["vocab_size"] == len(vocab)


def test_windows_never_cross_sessions(tmp_path):
    templates = ["a", "b", "c", "a", "b", "c", "d", "a"]
    sessions = ["s1", "s2", "s1", "s1", "s2", "s1", "s2", None]
    parsed = parsed_table(tmp_path, templates, sessions)
    summary = build_deeplog_inputs(parsed, tmp_path / "out", window=2)
    X, y, _ = load_sequences(tmp_path / "out/sequences.parquet")
    # s1 = a c a c -> [a c]->a, [c a]->c ; s2 = b b d -> [b b]->d ; vocab a0 b1 c2 d3
    assert X.tolist() == [[0, 2], [2, 0], [1, 1]]
    assert y.tolist() == [0, 2, 3]
    assert summary["sessions"] == 2 and summary["lines_without_session"] == 1


def test_explicit_session_column_and_none(tmp_path):
    parsed = parsed_table(tmp_path, ["a", "b", "a", "b"], ["x", "y", "x", "y"])
    by_content = build_deeplog_inputs(parsed, tmp_path / "o1", window=1, session_col="content")
    assert by_content["sessions"] == 2
    whole = build_deeplog_inputs(parsed, tmp_path / "o2", window=3, session_col="none")
    X, y, _ = load_sequences(tmp_path / "o2/sequences.parquet")
    assert whole["sessions"] == 1 and X.tolist() == [[0, 1, 0]] and y.tolist() == [1]


def test_hdfs_block_sessions_are_too_short_for_a_window_of_ten(tmp_path, parsed_logs):
    # HDFS_2k is a random sample: its block-id sessions hold at most two lines.
    with pytest.raises(AlogError, match="longest session has 2.*'none'"):
        build_deeplog_inputs(parsed_logs["HDFS"], tmp_path / "out", window=10)
    assert not (tmp_path / "out").exists()
    summary = build_deeplog_inputs(parsed_logs["HDFS"], tmp_path / "out", window=10, session_col="none")
    assert summary["windows"] == 1990


def test_refusals(tmp_path):
    parsed = parsed_table(tmp_path, ["a", "b", "c"])
    for bad in (0, -1, 2.5, True):
        with pytest.raises(AlogError, match="positive integer"):
            build_deeplog_inputs(parsed, tmp_path / "out", window=bad)
    with pytest.raises(AlogError, match="at least 4 lines; the longest session has 3"):
        build_deeplog_inputs(parsed, tmp_path / "out", window=3)
    with pytest.raises(AlogError, match="unknown template column 'nope'"):
        build_deeplog_inputs(parsed, tmp_path / "out", window=1, template_col="nope")
    with pytest.raises(AlogError, match="does not hold template strings"):
        build_deeplog_inputs(parsed, tmp_path / "out", window=1, template_col="template_id")
    with pytest.raises(AlogError, match="unknown session column 'nope'"):
        build_deeplog_inputs(parsed, tmp_path / "out", window=1, session_col="nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(AlogError, match="is a file"):
        build_deeplog_inputs(parsed, tmp_path / "file", window=1)
    with pytest.raises(AlogError, match="not found"):
        build_deeplog_inputs(tmp_path / "missing.parquet", tmp_path / "out", window=1)
    with pytest.raises(AlogError, match="cannot create output directory"):
        build_deeplog_inputs(parsed, tmp_path / "file" / "out", window=1)
    (tmp_path / "out2" / "sequences.parquet").mkdir(parents=True)
    with pytest.raises(AlogError, match="is a directory"):
        build_deeplog_inputs(parsed, tmp_path / "out2", window=1)
    assert not (tmp_path / "out2" / "vocab.json").exists()


def test_load_sequences_refusals(tmp_path):
    with pytest.raises(AlogError, match="not found"):
        load_sequences(tmp_path / "missing.parquet")
    (tmp_path / "junk.parquet").write_text("junk")
    with pytest.raises(AlogError, match="not a parquet"):
        load_sequences(tmp_path / "junk.parquet")

    def write(name, table):
        pq.write_table(table, tmp_path / name)
        return tmp_path / name

    with pytest.raises(AlogError, match="exactly the columns"):
        load_sequences(write("cols.parquet", pa.table({"window": [[1]], "label": [0]})))
    with pytest.raises(AlogError, match="ragged"):
        load_sequences(write("ragged.parquet", pa.table({"window": [[1, 2], [1]], "next": [0, 1]})))
    with pytest.raises(AlogError, match="negative"):
        load_sequences(write("neg.parquet", pa.table({"window": [[1, -2]], "next": [0]})))
    with pytest.raises(AlogError, match="lists of integers"):
        load_sequences(write("str.parquet", pa.table({"window": [["a"]], "next": [0]})))
    with pytest.raises(AlogError, match="missing values"):
        load_sequences(write("null.parquet", pa.table({"window": [[1, None]], "next": [0]})))
    beyond = pa.table({"window": [[1, 5]], "next": [0]}).replace_schema_metadata({b"alog.vocab_size": b"3"})
    with pytest.raises(AlogError, match="beyond its vocab size 3"):
        load_sequences(write("beyond.parquet", beyond))
    # A table without our metadata still loads when it is well formed.
    X, y, meta = load_sequences(write("plain.parquet", pa.table({"window": [[1, 2], [2, 3]], "next": [3, 4]})))
    assert X.tolist() == [[1, 2], [2, 3]] and y.tolist() == [3, 4] and meta == {"window": 2}


def test_raw_log_end_to_end(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("".join(f"job {i} started\njob {i} finished\n" for i in range(30)))
    parse_log(log, tmp_path / "p.parquet", fmt="raw")
    build_deeplog_inputs(tmp_path / "p.parquet", tmp_path / "out", window=4)
    vocab = json.loads((tmp_path / "out/vocab.json").read_text())
    assert vocab == {"job <*> finished": 0, "job <*> started": 1}
    X, y, meta = load_sequences(tmp_path / "out/sequences.parquet")
    assert X[0].tolist() == [1, 0, 1, 0] and y[0] == 1 and meta["log_format"] == "raw"
    assert pd.read_parquet(tmp_path / "out/sequences.parquet").shape == (56, 2)
