"""The converter's documented commands, run as a user types them: from the models' parent folder, with
relative paths, through the installed `alog-detect` script. Was: the dynamo export ran in a changed
working directory with the relative pending path in hand, failed with "No such file or directory", and
`auto` silently fell back to a TorchScript opset-17 file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from converter import checkpoint
from converter.models import DeepLog, DeepLogConfig

TEMPLATES = [f"template {i} <*>" for i in range(6)]
VOCAB = {t: i for i, t in enumerate(TEMPLATES)}
ALOG_DETECT = Path(sys.executable).with_name("alog-detect")
# torch 2.13's dynamo exporter keeps an LSTM's sequence axis dynamic (README: the matrix's table)
DYNAMO_WORKS = tuple(int(p) for p in torch.__version__.split("+")[0].split(".")[:2]) >= (2, 13)


@pytest.fixture
def user_folder(tmp_path) -> Path:
    """tmp/models/{deeplog.pth, vocab.json}: what a user has after training."""
    models = tmp_path / "models"
    models.mkdir()
    (models / "vocab.json").write_text(json.dumps(VOCAB), encoding="utf-8")
    checkpoint.save(models / "deeplog.pth", "deeplog", DeepLog(DeepLogConfig(6, 4, 8, 1, 4)),
                    extra={"vocab_sha256": checkpoint.vocab_digest(VOCAB), "log_format": "hdfs", "header_fields": 5})
    return tmp_path


@pytest.mark.skipif(not DYNAMO_WORKS, reason="this torch's dynamo exporter cannot keep an LSTM's axes dynamic")
@pytest.mark.parametrize("extra", [[], ["--seq-len", "50"], ["--validate"]], ids=["plain", "seq-len", "validate"])
def test_documented_command_with_relative_paths_gives_the_dynamo_artifact(user_folder, extra):
    before = sorted(p.name for p in user_folder.iterdir())
    done = subprocess.run([str(ALOG_DETECT), "convert-onnx", "--deeplog-model", "models/deeplog.pth",
                           "--vocab", "models/vocab.json", "--output-dir", "models/onnx", *extra],
                          cwd=user_folder, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    out = user_folder / "models" / "onnx"
    assert sorted(p.name for p in out.iterdir()) == ["deeplog.onnx", "deeplog.onnx.meta.json", "vocab.json"]
    assert sorted(p.name for p in user_folder.iterdir()) == before  # nothing written beside the models' folder
    meta = json.loads((out / "deeplog.onnx.meta.json").read_text(encoding="utf-8"))
    attempts = meta["export"]["attempts"]
    assert [a["outcome"] for a in attempts] == ["ok"], attempts
    assert meta["export"]["exporter"] == "dynamo" and meta["opset"] == 20, meta["export"]["reason"]
    assert meta["seq_len"] == (50 if extra[:1] == ["--seq-len"] else 4)
    assert ("validation" in meta) == (extra == ["--validate"])
