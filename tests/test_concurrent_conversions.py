"""Two conversions into one folder, and conversions stopped half-way: the folder always holds one
complete, consistent set (model, meta and vocab of one checkpoint). Were: every run used the same
pending names and deleted the other's, no lock, and a delay let two runs leave only deeplog.onnx or a
model of one checkpoint beside the meta of the other.

The races are made deterministic with the converter's test-only pause points (ALOG_DETECT_TEST_PAUSE,
converter/outdir.py): a real conversion stops at a stage and waits for the test's go."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import onnx
import pytest

from converter import checkpoint, outdir
from converter.models import DeepLog, DeepLogConfig

SET = ["deeplog.onnx", "deeplog.onnx.meta.json", "vocab.json"]


def make_checkpoint(folder: Path, templates: int) -> Path:
    folder.mkdir()
    vocab = {f"{folder.name} template {i} <*>": i for i in range(templates)}
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    checkpoint.save(folder / "deeplog.pth", "deeplog", DeepLog(DeepLogConfig(templates, 4, 8, 1, 4)),
                    extra={"vocab_sha256": checkpoint.vocab_digest(vocab), "log_format": "hdfs", "header_fields": 5})
    return folder


def argv(source: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "converter.cli", "convert-onnx", "--deeplog-model", str(source / "deeplog.pth"),
            "--vocab", str(source / "vocab.json"), "--output-dir", str(out), "--exporter", "legacy"]


def start_paused(source: Path, out: Path, stage: str, control: Path) -> subprocess.Popen:
    control.mkdir(exist_ok=True)
    env = {**os.environ, outdir.TEST_PAUSE_ENV: f"{stage}:{control}"}
    proc = subprocess.Popen(argv(source, out), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while not (control / f"{stage}.reached").exists():  # an event, not a clock: the run got there or ended
        if proc.poll() is not None:
            pytest.fail(f"the conversion ended before {stage}: {proc.communicate()[1]}")
        time.sleep(0.05)
    return proc


def finish(proc: subprocess.Popen, control: Path, stage: str) -> tuple[int, str]:
    (control / f"{stage}.go").write_text("", encoding="utf-8")
    _, stderr = proc.communicate(timeout=600)
    return proc.returncode, stderr


def the_set(out: Path) -> dict:
    """Which checkpoint the folder's set came from; fails the test unless all three files agree."""
    assert sorted(p.name for p in out.iterdir()) == SET  # nothing pending, no lock, no backup left
    meta = json.loads((out / "deeplog.onnx.meta.json").read_text(encoding="utf-8"))
    vocab = json.loads((out / "vocab.json").read_text(encoding="utf-8"))
    logits = onnx.load(str(out / "deeplog.onnx")).graph.output[0].type.tensor_type.shape.dim[1].dim_value
    source = Path(meta["source"]).parent.name
    assert meta["vocab_size"] == len(vocab) == logits, (meta["vocab_size"], len(vocab), logits)
    assert all(template.startswith(f"{source} template") for template in vocab.values()), (source, vocab)
    return {"source": source, "vocab_size": len(vocab)}


def snapshot(out: Path) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for name in SET}


@pytest.fixture
def folders(tmp_path):
    """Three checkpoints of different vocabularies, and an output folder holding a good set of the first."""
    old, a, b = (make_checkpoint(tmp_path / name, size) for name, size in (("old", 5), ("first", 6), ("second", 7)))
    out = tmp_path / "out"
    done = subprocess.run(argv(old, out), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert the_set(out)["source"] == "old"
    return old, a, b, out, tmp_path / "control"


def test_second_conversion_is_refused_naming_the_holder(folders):
    _, first, second, out, control = folders
    winner = start_paused(first, out, "before-publish", control)
    loser = subprocess.run(argv(second, out), capture_output=True, text=True, timeout=600)
    assert loser.returncode == 1 and "Traceback" not in loser.stderr, loser.stderr
    line, = loser.stderr.strip().splitlines()
    assert line.startswith(f"alog-detect convert-onnx: error: output directory {out} is being written by another "
                           f"conversion (pid {winner.pid} on {socket.gethostname()}, started "), line
    assert finish(winner, control, "before-publish")[0] == 0
    assert the_set(out) == {"source": "first", "vocab_size": 6}


def test_interrupted_before_publishing_leaves_the_previous_set(folders):
    _, first, _, out, control = folders
    before = snapshot(out)
    proc = start_paused(first, out, "before-publish", control)
    proc.send_signal(signal.SIGINT)
    code, stderr = finish(proc, control, "before-publish")
    assert code == 130 and stderr.strip().endswith("interrupted"), stderr
    assert snapshot(out) == before and the_set(out)["source"] == "old"


def test_killed_run_leaves_the_previous_set_and_the_next_run_cleans_up(folders):
    _, first, second, out, control = folders
    before = snapshot(out)
    proc = start_paused(first, out, "before-publish", control)
    proc.kill()
    proc.communicate(timeout=600)
    assert snapshot(out) == before
    leftovers = sorted(p.name for p in out.iterdir() if p.name not in SET)
    assert outdir.LOCK_NAME in leftovers and any(name.endswith(".pending") for name in leftovers), leftovers
    done = subprocess.run(argv(second, out), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr  # the dead holder's lock is no lock
    assert the_set(out) == {"source": "second", "vocab_size": 7}


def test_failure_half_way_through_publishing_puts_the_previous_files_back(folders):
    """The model is already replaced when publishing the meta fails (a directory took its place): the
    previous model comes back, the conversion is one line and exit 1."""
    _, first, _, out, control = folders
    before = snapshot(out)
    proc = start_paused(first, out, "mid-publish", control)
    (out / "deeplog.onnx.meta.json").unlink()
    (out / "deeplog.onnx.meta.json").mkdir()
    code, stderr = finish(proc, control, "mid-publish")
    assert code == 1 and len(stderr.strip().splitlines()) == 1 and "is a directory" in stderr, stderr
    assert (out / "deeplog.onnx").read_bytes() == before["deeplog.onnx"]
    assert (out / "vocab.json").read_bytes() == before["vocab.json"]
    assert sorted(p.name for p in out.iterdir()) == SET


def test_interrupt_while_publishing_is_held_back_until_the_set_is_whole(folders):
    _, first, _, out, control = folders
    proc = start_paused(first, out, "mid-publish", control)
    proc.send_signal(signal.SIGINT)
    code, stderr = finish(proc, control, "mid-publish")
    assert code == 130, stderr
    assert the_set(out) == {"source": "first", "vocab_size": 6}
