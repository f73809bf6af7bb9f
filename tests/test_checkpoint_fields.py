"""A checkpoint's config and extra fields reach the meta file the C engine reads, so convert-onnx checks
them before exporting anything: a bad one is exit 1 with one line naming the file and the field, and
the output directory stays untouched. The checkpoints are real (models built and written by
converter.checkpoint.save, or its payload rewritten with torch.save). The CLI runs in a subprocess for
the headline cases and the conversions; the long list of refusals goes through the same entry point
in-process (a subprocess costs ~10 s of torch and onnx imports on this machine)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from converter import checkpoint
from converter.models import MSCRED, DeepLog, DeepLogConfig, MSCREDConfig

TEMPLATES = [f"template {i} <*>" for i in range(6)]
VOCAB = {t: i for i, t in enumerate(TEMPLATES)}
DEEPLOG_CONFIG = {"vocab_size": 6, "seq_len": 4, "hidden": 8, "layers": 1, "embed_dim": 4}
MSCRED_CONFIG = {"sensors": 5, "scales": 3, "step": 2, "channels": [2, 2, 2]}


def good_deeplog_extra() -> dict:
    return {"vocab_sha256": checkpoint.vocab_digest(VOCAB), "log_format": "hdfs", "header_fields": 5, "seed": 0}


def write_checkpoint(path: Path, kind: str, config: dict | None = None, extra=None, raw: dict | None = None) -> Path:
    """A real checkpoint; ``config``/``extra`` replace the fields as JSON, ``raw`` replaces payload entries."""
    model = DeepLog(DeepLogConfig(**DEEPLOG_CONFIG)) if kind == "deeplog" else MSCRED(MSCREDConfig(
        **{**MSCRED_CONFIG, "channels": tuple(MSCRED_CONFIG["channels"])}))
    checkpoint.save(path, kind, model, extra=good_deeplog_extra() if extra is None and kind == "deeplog" else extra)
    if config is not None or raw:
        payload = torch.load(path, weights_only=True)
        if config is not None:
            payload["config"] = json.dumps(config)
        payload.update(raw or {})
        torch.save(payload, path)
    return path


def convert_argv(tmp_path: Path, *models: str) -> list[str]:
    (tmp_path / "vocab.json").write_text(json.dumps(VOCAB))
    return ["convert-onnx", *models, "--vocab", str(tmp_path / "vocab.json"), "--output-dir", str(tmp_path / "out"),
            "--exporter", "legacy"]


def convert(tmp_path: Path, *models: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "converter.cli", *convert_argv(tmp_path, *models)],
                          capture_output=True, text=True, timeout=600)


def assert_refused(code: int, stderr: str, path: Path, needle: str) -> None:
    assert code == 1, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    assert lines[0].startswith("alog-detect convert-onnx: error: ") and str(path) in lines[0], lines[0]
    assert needle in lines[0], lines[0]
    out = path.parent / "out"
    assert not out.exists() or sorted(p.name for p in out.iterdir()) == []  # no pending file, no artifact


def dh(**changes) -> dict:
    return {**good_deeplog_extra(), **changes}


def without(mapping: dict, key: str) -> dict:
    return {k: v for k, v in mapping.items() if k != key}


DEEPLOG_CASES = {
    "header_fields-text": ({"extra": dh(header_fields="abc")}, "extra field header_fields is 'abc'"),
    "header_fields-negative": ({"extra": dh(header_fields=-3)}, "extra field header_fields is -3"),
    "header_fields-bool": ({"extra": dh(header_fields=True)}, "extra field header_fields is True"),
    "header_fields-float": ({"extra": dh(header_fields=5.0)}, "extra field header_fields is 5.0"),
    "header_fields-huge": ({"extra": without(dh(header_fields=100001), "log_format")}, "header_fields is 100001"),
    "header_fields-not-the-format's": ({"extra": dh(header_fields=9)}, "header fields of log format hdfs"),
    "log_format-unknown": ({"extra": dh(log_format="xml")}, "extra field log_format is 'xml'"),
    "log_format-number": ({"extra": dh(log_format=5)}, "extra field log_format is 5"),
    "vocab_sha256-not-hex": ({"extra": dh(vocab_sha256="zz" * 32)}, "extra field vocab_sha256"),
    "vocab_sha256-number": ({"extra": dh(vocab_sha256=12)}, "extra field vocab_sha256 is 12"),
    "extra-a-list": ({"extra": [1, 2]}, "extra fields must be a JSON object"),
    "extra-not-json": ({"raw": {"extra": "{"}}, "extra is not JSON text"),
    "config-seq_len-zero": ({"config": {**DEEPLOG_CONFIG, "seq_len": 0}}, "config field seq_len is 0"),
    "config-vocab_size-bool": ({"config": {**DEEPLOG_CONFIG, "vocab_size": True}}, "config field vocab_size is True"),
    "config-unknown-field": ({"config": {**DEEPLOG_CONFIG, "dropout": 1}}, "unknown field 'dropout'"),
}
MSCRED_CASES = {
    "scale_windows-text": ({"extra": {"scale_windows": "abc"}}, "extra field scale_windows is 'abc'"),
    "scale_windows-zero": ({"extra": {"scale_windows": [0, 10, 20]}}, "extra field scale_windows is [0, 10, 20]"),
    "scale_windows-too-few": ({"extra": {"scale_windows": [5, 10]}}, "a list of 3 positive integers"),
    "config-channels": ({"config": {**MSCRED_CONFIG, "channels": [2, 2]}}, "config field channels is [2, 2]"),
}


@pytest.mark.parametrize("header_fields", ["abc", -3])
def test_bad_header_fields_in_a_subprocess(tmp_path, header_fields):
    """Were: "abc" an internal error leaving .deeplog.onnx.pending behind, -3 a published artifact."""
    path = write_checkpoint(tmp_path / "deeplog.pth", "deeplog", extra=dh(header_fields=header_fields))
    done = convert(tmp_path, "--deeplog-model", str(path))
    assert_refused(done.returncode, done.stderr, path, f"extra field header_fields is {header_fields!r}")


@pytest.mark.parametrize("kind,case", [("deeplog", c) for c in DEEPLOG_CASES] + [("mscred", c) for c in MSCRED_CASES])
def test_a_bad_field_is_refused_before_export(tmp_path, capsys, kind, case):
    from converter.cli import main

    changes, needle = (DEEPLOG_CASES if kind == "deeplog" else MSCRED_CASES)[case]
    path = write_checkpoint(tmp_path / f"{kind}.pth", kind, changes.get("config"), changes.get("extra"),
                            changes.get("raw"))
    code = main(convert_argv(tmp_path, f"--{kind}-model", str(path)))
    assert_refused(code, capsys.readouterr().err, path, needle)


def test_good_fields_reach_the_meta_and_missing_ones_get_defaults(tmp_path):
    deeplog = write_checkpoint(tmp_path / "deeplog.pth", "deeplog",
                               extra={"vocab_sha256": checkpoint.vocab_digest(VOCAB).upper(), "log_format": "bgl"})
    mscred = write_checkpoint(tmp_path / "mscred.pth", "mscred", extra={"scale_windows": [2, 4, 8]})
    done = convert(tmp_path, "--deeplog-model", str(deeplog), "--mscred-model", str(mscred))
    assert done.returncode == 0, done.stderr
    meta = json.loads((tmp_path / "out" / "deeplog.onnx.meta.json").read_text())
    assert (meta["log_format"], meta["header_fields"], meta["seq_len"]) == ("bgl", 9, 4)  # bgl's 9 header fields
    assert json.loads((tmp_path / "out" / "mscred.onnx.meta.json").read_text())["scale_windows"] == [2, 4, 8]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "deeplog.onnx", "deeplog.onnx.meta.json", "mscred.onnx", "mscred.onnx.meta.json", "vocab.json"]


def test_the_vocab_digest_still_ties_the_checkpoint_to_its_vocab(tmp_path):
    other = {f"other {i}": i for i in range(6)}
    path = write_checkpoint(tmp_path / "deeplog.pth", "deeplog", extra=dh(vocab_sha256=checkpoint.vocab_digest(other)))
    done = convert(tmp_path, "--deeplog-model", str(path))
    assert done.returncode == 1 and "is not the vocab" in done.stderr, done.stderr
