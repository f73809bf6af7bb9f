"""Bad input: one clear line on stderr, a non-zero exit, no traceback, nothing half-written."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch


def alog(*argv) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "converter.cli", *map(str, argv)], capture_output=True, text=True)


def assert_one_line_error(done: subprocess.CompletedProcess, *needles: str) -> str:
    assert done.returncode not in (0,) and 0 < done.returncode < 128, done
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("alog-detect")
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def hdfs_run(loghub, tmp_path_factory):
    """A small trained HDFS DeepLog (CLI in-process for speed) and its legacy export."""
    from converter.cli import main

    work = tmp_path_factory.mktemp("bad-input")
    assert main(["parse", "--log", str(loghub / "HDFS_2k.log"), "--out", str(work / "parsed.parquet")]) == 0
    assert main(["build-deeplog", "--parsed", str(work / "parsed.parquet"), "--out-dir", str(work),
                 "--session-col", "none"]) == 0
    assert main(["deeplog-train", "--seq", str(work / "sequences.parquet"), "--vocab", str(work / "vocab.json"),
                 "--out", str(work / "deeplog.pth"), "--epochs", "1", "--hidden", "8", "--layers", "1"]) == 0
    return work


def test_missing_log(tmp_path):
    assert_one_line_error(alog("parse", "--log", tmp_path / "nope.log", "--out", tmp_path / "p.parquet"), "nope.log")
    assert not (tmp_path / "p.parquet").exists()


def test_empty_log(tmp_path):
    (tmp_path / "empty.log").write_bytes(b"")
    assert_one_line_error(alog("parse", "--log", tmp_path / "empty.log", "--out", tmp_path / "p.parquet"))
    assert not (tmp_path / "p.parquet").exists()


def test_binary_garbage_is_refused_in_auto_and_parsed_as_raw(tmp_path):
    garbage = bytes(range(256)) * 64 + b"\n\xff\xfe not utf-8 \xc3\x28\n"
    (tmp_path / "bin.log").write_bytes(garbage)
    assert_one_line_error(alog("parse", "--log", tmp_path / "bin.log", "--out", tmp_path / "p.parquet"), "--format raw")
    done = alog("parse", "--log", tmp_path / "bin.log", "--out", tmp_path / "raw.parquet", "--format", "raw")
    assert done.returncode == 0, done.stderr
    import pandas as pd

    table = pd.read_parquet(tmp_path / "raw.parquet")
    assert len(table) >= 1 and table["content"].str.contains("\ufffd").any()  # decoded with replacement


def test_window_larger_than_any_session(hdfs_run, tmp_path):
    line = assert_one_line_error(alog("build-deeplog", "--parsed", hdfs_run / "parsed.parquet", "--out-dir", tmp_path,
                                      "--window", 5000, "--session-col", "none"))
    assert "5000" in line
    assert not (tmp_path / "sequences.parquet").exists()


@pytest.mark.parametrize("value", ["0", "-3", "ten"])
def test_seq_len_must_be_positive(hdfs_run, tmp_path, value):
    assert_one_line_error(alog("convert-onnx", "--deeplog-model", hdfs_run / "deeplog.pth", "--vocab",
                               hdfs_run / "vocab.json", "--output-dir", tmp_path, "--seq-len", value), "--seq-len")


def test_unknown_exporter(hdfs_run, tmp_path):
    assert_one_line_error(alog("convert-onnx", "--deeplog-model", hdfs_run / "deeplog.pth", "--vocab",
                               hdfs_run / "vocab.json", "--output-dir", tmp_path, "--exporter", "tflite"), "tflite")


def test_output_dir_is_a_file(hdfs_run, tmp_path):
    (tmp_path / "file").write_text("x")
    assert_one_line_error(alog("convert-onnx", "--deeplog-model", hdfs_run / "deeplog.pth", "--vocab",
                               hdfs_run / "vocab.json", "--output-dir", tmp_path / "file"), "is a file")


def test_checkpoint_not_ours_truncated_or_garbage(hdfs_run, tmp_path):
    torch.save({"weights": torch.zeros(3)}, tmp_path / "foreign.pth")
    data = (hdfs_run / "deeplog.pth").read_bytes()
    (tmp_path / "truncated.pth").write_bytes(data[: len(data) // 2])
    (tmp_path / "garbage.pth").write_bytes(b"\x00\x01 not a checkpoint" * 10)
    for name, needle in (("foreign.pth", "not an alog-detect checkpoint"), ("truncated.pth", "truncated.pth"),
                         ("garbage.pth", "not a PyTorch checkpoint"), ("missing.pth", "not found")):
        assert_one_line_error(alog("convert-onnx", "--deeplog-model", tmp_path / name, "--vocab",
                                   hdfs_run / "vocab.json", "--output-dir", tmp_path / "out"), needle)
    assert not (tmp_path / "out" / "deeplog.onnx").exists()


def test_vocab_mistakes_are_explained(hdfs_run, tmp_path):
    training = json.loads((hdfs_run / "vocab.json").read_text())
    cases = {
        # keyed by Drain3 cluster ids
        "ids.json": ({str(i + 1): i for i in range(len(training))}, "build-deeplog"),
        # engine format where a training vocab is expected
        "engine.json": ({str(i): t for t, i in training.items()}, "engine"),
        # one entry short of the model's embedding rows
        "short.json": ({t: i for t, i in training.items() if i < len(training) - 1}, str(len(training))),
        "empty.json": ({}, "empty"),
    }
    for name, (vocab, needle) in cases.items():
        (tmp_path / name).write_text(json.dumps(vocab))
        assert_one_line_error(alog("convert-onnx", "--deeplog-model", hdfs_run / "deeplog.pth", "--vocab",
                                   tmp_path / name, "--output-dir", tmp_path / "out"), needle)


def test_failed_conversion_leaves_the_good_artifact_untouched(hdfs_run, tmp_path):
    out = tmp_path / "model"
    good = alog("convert-onnx", "--deeplog-model", hdfs_run / "deeplog.pth", "--vocab", hdfs_run / "vocab.json",
                "--output-dir", out, "--exporter", "legacy")
    assert good.returncode == 0, good.stderr
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    # an opset below what ONNX Runtime accepts, then a checkpoint that is not ours: both must fail cleanly
    assert_one_line_error(alog("convert-onnx", "--deeplog-model", hdfs_run / "deeplog.pth", "--vocab",
                               hdfs_run / "vocab.json", "--output-dir", out, "--exporter", "legacy", "--opset", "7"),
                          "opset")
    torch.save({"x": 1}, tmp_path / "foreign.pth")
    assert_one_line_error(alog("convert-onnx", "--deeplog-model", tmp_path / "foreign.pth", "--vocab",
                               hdfs_run / "vocab.json", "--output-dir", out))
    # an opset newer than this torch can write: the exporter itself fails
    assert_one_line_error(alog("convert-onnx", "--deeplog-model", hdfs_run / "deeplog.pth", "--vocab",
                               hdfs_run / "vocab.json", "--output-dir", out, "--exporter", "legacy", "--opset", "99"),
                          "export failed")
    after = {p.name: p.read_bytes() for p in out.iterdir()}
    assert after == before  # same files, same bytes, no temporaries left


def test_fix_vocab_rewrites_ids_and_warns(hdfs_run, tmp_path):
    import pandas as pd

    table = pd.read_parquet(hdfs_run / "parsed.parquet")
    pairs = table[["template_id", "template"]].drop_duplicates().sort_values("template_id")
    old = {str(int(cid)): index for index, cid in enumerate(pairs["template_id"])}
    (tmp_path / "old.json").write_text(json.dumps(old))
    done = alog("fix-vocab", "--parsed", hdfs_run / "parsed.parquet", "--old-vocab", tmp_path / "old.json",
                "--output", tmp_path / "new.json")
    assert done.returncode == 0, done.stderr
    assert "retrain" in done.stderr.lower()
    new = json.loads((tmp_path / "new.json").read_text())
    templates = dict(zip(pairs["template_id"].astype(int).astype(str), pairs["template"]))
    assert new == {templates[cid]: index for cid, index in old.items()}
