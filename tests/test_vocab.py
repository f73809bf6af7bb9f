"""Vocab shapes: built deterministically, and every wrong shape refused with a one-line error."""

from __future__ import annotations

import json

import pytest

from converter.errors import AlogError
from converter.parsing import read_parsed
from converter.vocab import (
    FIX_VOCAB_WARNING,
    build_training_vocab,
    check_vocab_size,
    fix_vocab,
    load_engine_vocab,
    load_training_vocab,
    to_engine_format,
    write_engine_vocab,
    write_training_vocab,
)


def write(tmp_path, obj, name="vocab.json"):
    path = tmp_path / name
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return path


def test_build_is_sorted_and_stable():
    vocab = build_training_vocab(["b <*>", "a", "b <*>", "c"])
    assert vocab == {"a": 0, "b <*>": 1, "c": 2}
    assert build_training_vocab(reversed(["b <*>", "a", "c"])) == vocab


def test_round_trip_training_and_engine(tmp_path):
    vocab = build_training_vocab(["x <*>", "y", "z"])
    write_training_vocab(tmp_path / "t.json", vocab)
    assert load_training_vocab(tmp_path / "t.json") == vocab
    engine = to_engine_format(vocab)
    assert engine == {"0": "x <*>", "1": "y", "2": "z"}
    write_engine_vocab(tmp_path / "e.json", engine)
    assert load_engine_vocab(tmp_path / "e.json") == {0: "x <*>", 1: "y", 2: "z"}
    write_engine_vocab(tmp_path / "e2.json", {0: "x <*>", 1: "y", 2: "z"})  # int keys accepted
    assert json.loads((tmp_path / "e2.json").read_text()) == engine


@pytest.mark.parametrize(
    "content,message",
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ("{}", "empty"),
        ({"12": 0, "7": 1}, "Drain3 cluster ids.*build-deeplog.*fix-vocab"),
        ({"0": "a", "1": "b"}, "engine vocab .*expected a training vocab"),
        ({"a": "0", "b": 1}, "integer indices"),
        ({"a": 0.0, "b": 1}, "integer indices"),
        ({"a": True, "b": 1}, "integer indices"),
        ({"a": 0, "b": 2}, "exactly 0..1"),
        ({"a": 1, "b": 2}, "exactly 0..1"),
        ({"a": 0, "b": 0}, "index 0 to more than one"),
        ('{"a": 0, "a": 1}', "appears twice"),
    ],
)
def test_training_vocab_refusals(tmp_path, content, message):
    with pytest.raises(AlogError, match=message):
        load_training_vocab(write(tmp_path, content))


@pytest.mark.parametrize(
    "content,message",
    [
        ("\xff not json", "not valid JSON"),
        ('"text"', "must be a JSON object"),
        ({}, "empty"),
        ({"3": 0, "9": 1}, "Drain3 cluster ids"),
        ({"a": 0, "b": 1}, "training vocab .*expected an engine vocab"),
        ({"0": "a", "2": "b"}, "exactly 0..1"),
        ({"0": "a", "01": "b"}, "index strings"),
        ({"0": "a", "x": "b"}, "index strings"),
        ({"0": "a", "1": 5, "2": "c"}, "index strings"),
        ({"0": "a", "1": "a"}, "twice"),
        ('{"0": "a", "0": "b"}', "appears twice"),
    ],
)
def test_engine_vocab_refusals(tmp_path, content, message):
    with pytest.raises(AlogError, match=message):
        load_engine_vocab(write(tmp_path, content))


def test_missing_vocab_and_size_check(tmp_path):
    with pytest.raises(AlogError, match="not found"):
        load_training_vocab(tmp_path / "none.json")
    with pytest.raises(AlogError, match="not found"):
        load_engine_vocab(tmp_path / "none.json")
    check_vocab_size({"a": 0, "b": 1}, 2, "deeplog.pth")
    with pytest.raises(AlogError, match="deeplog.pth: vocab has 2 templates .* 3 rows"):
        check_vocab_size({"a": 0, "b": 1}, 3, "deeplog.pth")


def test_writes_refuse_bad_vocab_without_clobbering(tmp_path):
    target = tmp_path / "vocab.json"
    target.write_text('{"good": 0}')
    with pytest.raises(AlogError):
        write_training_vocab(target, {"a": 0, "b": 5})
    with pytest.raises(AlogError):
        write_engine_vocab(target, {"0": "a", "1": "a"})
    assert target.read_text() == '{"good": 0}'
    assert [p.name for p in tmp_path.iterdir()] == ["vocab.json"]  # no temp files left behind


def test_fix_vocab_keeps_indices(tmp_path, parsed_logs):
    parsed = read_parsed(parsed_logs["HDFS"])
    by_id = dict(zip(parsed["template_id"], parsed["template"]))
    ids = sorted(by_id, reverse=True)  # an old vocab whose indices follow some other order
    old = write(tmp_path, {str(cid): index for index, cid in enumerate(ids)}, "old.json")
    summary = fix_vocab(parsed_logs["HDFS"], old, tmp_path / "fixed.json")
    assert summary["warning"] == FIX_VOCAB_WARNING and "retrain" in summary["warning"]
    assert summary["entries"] == summary["templates"] == len(ids)
    fixed = load_training_vocab(tmp_path / "fixed.json")
    assert fixed == {by_id[cid]: index for index, cid in enumerate(ids)}


def test_fix_vocab_refusals(tmp_path, parsed_logs):
    parsed = parsed_logs["HDFS"]
    with pytest.raises(AlogError, match="cluster id 9999 .* is not in the parsed table"):
        fix_vocab(parsed, write(tmp_path, {"1": 0, "9999": 1}), tmp_path / "out.json")
    with pytest.raises(AlogError, match="not keyed by Drain3 cluster ids"):
        fix_vocab(parsed, write(tmp_path, {"a": 0}), tmp_path / "out.json")
    with pytest.raises(AlogError, match="engine vocab"):
        fix_vocab(parsed, write(tmp_path, {"0": "a"}), tmp_path / "out.json")
    assert not (tmp_path / "out.json").exists()


def test_fix_vocab_refuses_ids_sharing_a_template(tmp_path):
    # Two clusters that ended with the same template (possible with a user's own Drain3 state).
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({
        "line_id": pa.array([1, 2], pa.int64()), "content": ["a 1", "a 2"],
        "template_id": pa.array([1, 2], pa.int64()), "template": ["a <*>", "a <*>"],
        "timestamp": pa.array([float("nan")] * 2),
    }).replace_schema_metadata({b"alog.log_format": b"raw", b"alog.header_fields": b"0"})
    pq.write_table(table, tmp_path / "p.parquet")
    with pytest.raises(AlogError, match="share template"):
        fix_vocab(tmp_path / "p.parquet", write(tmp_path, {"1": 0, "2": 1}), tmp_path / "out.json")


def test_write_to_bad_paths_is_refused(tmp_path):
    (tmp_path / "dir.json").mkdir()
    with pytest.raises(AlogError, match="is a directory"):
        write_training_vocab(tmp_path / "dir.json", {"a": 0})
    (tmp_path / "afile").write_text("x")
    with pytest.raises(AlogError, match="cannot write"):
        write_engine_vocab(tmp_path / "afile" / "vocab.json", {"0": "a"})
