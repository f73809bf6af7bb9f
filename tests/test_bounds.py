"""Bounds on every size read from a file or an option: one clear line and exit 1, before anything is
allocated, with the same numbers in the converter (converter/artifacts.py) and the C engine
(cengine/src/bounds.h). Were: seq_len 2**40 / 2**62 / 10**40 in a checkpoint's config or
`--seq-len 99999999999999999999999` exit 3 (allocation failure, TypeError); `layers = 10**6` built the
model before its weights were compared and took all memory."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from converter import artifacts, checkpoint
from converter.cli import main
from converter.models import MSCRED, DeepLog, DeepLogConfig, MSCREDConfig

BOUNDS_H = Path(__file__).resolve().parents[1] / "cengine" / "src" / "bounds.h"
TEMPLATES = [f"template {i} <*>" for i in range(6)]
VOCAB = {t: i for i, t in enumerate(TEMPLATES)}
CONFIG = {"vocab_size": 6, "seq_len": 4, "hidden": 8, "layers": 1, "embed_dim": 4}
# the sizes the engine reads itself (from meta.json or an option); hidden, layers, embed_dim and channels
# are the converter's alone (the engine only prints model_config)
ENGINE_READS = {"seq_len", "vocab_size", "top_g", "header_fields", "sensors", "scales", "step", "opset", "batch"}


def engine_bounds() -> dict[str, tuple[int, int]]:
    found: dict[str, dict[str, int]] = {}
    for name, end, value in re.findall(r"#define BOUND_([A-Z_]+)_(MIN|MAX) (\d+)L", BOUNDS_H.read_text()):
        found.setdefault(name.lower(), {})[end] = int(value)
    return {name: (ends["MIN"], ends["MAX"]) for name, ends in found.items()}


def test_engine_and_converter_share_the_bounds():
    assert engine_bounds() == {name: artifacts.BOUNDS[name] for name in ENGINE_READS}


@pytest.mark.parametrize("config", [DeepLogConfig(6, 4, 8, 1, 4), DeepLogConfig(50, 10, 64, 3, 16),
                                    MSCREDConfig(5, 3, 2, (2, 2, 2)), MSCREDConfig(30, 3, 5)])
def test_parameter_count_without_building_matches_the_model(config):
    model = DeepLog(config) if isinstance(config, DeepLogConfig) else MSCRED(config)
    assert config.parameter_count() == sum(t.numel() for t in model.state_dict().values())


def deeplog_checkpoint(path: Path, config: dict | None = None) -> Path:
    """A real small checkpoint whose config field is then rewritten (the weights stay those of CONFIG)."""
    checkpoint.save(path, "deeplog", DeepLog(DeepLogConfig(**CONFIG)),
                    extra={"vocab_sha256": checkpoint.vocab_digest(VOCAB), "log_format": "hdfs", "header_fields": 5})
    if config is not None:
        payload = torch.load(path, weights_only=True)
        payload["config"] = json.dumps(config)
        torch.save(payload, path)
    (path.parent / "vocab.json").write_text(json.dumps(VOCAB), encoding="utf-8")
    return path


def convert_argv(path: Path, *extra: str) -> list[str]:
    return ["convert-onnx", "--deeplog-model", str(path), "--vocab", str(path.parent / "vocab.json"),
            "--output-dir", str(path.parent / "out"), "--exporter", "legacy", *extra]


def one_line(code: int, stderr: str, *needles: str) -> str:
    assert code == 1, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    assert lines[0].startswith("alog-detect ") and ": error: " in lines[0], lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("field,value", [("seq_len", 2**40), ("seq_len", 2**62), ("seq_len", 10**40),
                                         ("vocab_size", 10**9), ("hidden", 2**40), ("layers", 10**6),
                                         ("embed_dim", 0)])
def test_absurd_config_sizes_are_refused_before_building(tmp_path, capsys, field, value):
    path = deeplog_checkpoint(tmp_path / "deeplog.pth", {**CONFIG, field: value})
    code = main(convert_argv(path))
    one_line(code, capsys.readouterr().err, str(path), f"config field {field} is", str(artifacts.BOUNDS[field][1]))
    assert not (tmp_path / "out").exists()


def test_config_within_bounds_but_not_the_weights_is_refused_before_building(tmp_path, capsys):
    """999 layers of 8 is within every bound; the file holds one layer: refused from the counts alone."""
    path = deeplog_checkpoint(tmp_path / "deeplog.pth", {**CONFIG, "layers": 999})
    code = main(convert_argv(path))
    expected = DeepLogConfig(**{**CONFIG, "layers": 999}).parameter_count()
    one_line(code, capsys.readouterr().err, "weights do not fit its config", f"describes {expected}")


def test_mscred_inputs_too_large_per_sample_are_refused(tmp_path, capsys):
    path = tmp_path / "mscred.pth"
    checkpoint.save(path, "mscred", MSCRED(MSCREDConfig(5, 3, 2, (2, 2, 2))))
    payload = torch.load(path, weights_only=True)
    payload["config"] = json.dumps({"sensors": 100_000, "scales": 3, "step": 2, "channels": [2, 2, 2]})
    torch.save(payload, path)
    code = main(["convert-onnx", "--mscred-model", str(path), "--output-dir", str(tmp_path / "out")])
    one_line(code, capsys.readouterr().err, "values per sample")


def test_huge_seq_len_option_in_a_subprocess(tmp_path):
    path = deeplog_checkpoint(tmp_path / "deeplog.pth")
    done = subprocess.run([sys.executable, "-m", "converter.cli", *convert_argv(path, "--seq-len",
                                                                                "99999999999999999999999")],
                          capture_output=True, text=True, timeout=600)
    one_line(done.returncode, done.stderr, "--seq-len 999", "out of range", "1000000")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv,needle", [
    (["convert-onnx", "--seq-len", "0"], "--seq-len 0 is out of range"),
    (["convert-onnx", "--seq-len", "1000001"], "--seq-len 1000001 is out of range"),
    (["convert-onnx", "--opset", "100001"], "--opset 100001 is out of range"),
    (["deeplog-train", "--layers", "1000000"], "--layers 1000000 is out of range"),
    (["deeplog-train", "--hidden", "99999999999"], "--hidden 99999999999 is out of range"),
    (["deeplog-train", "--embed-dim", "65537"], "--embed-dim 65537 is out of range"),
    (["build-deeplog", "--window", "2000000"], "--window 2000000 is out of range"),
])
def test_size_options_out_of_bounds(tmp_path, capsys, argv, needle):
    path = deeplog_checkpoint(tmp_path / "deeplog.pth")
    command, *options = argv
    if command == "convert-onnx":
        full = convert_argv(path, *options)
    elif command == "deeplog-train":
        full = [command, "--seq", str(tmp_path / "seq.parquet"), "--vocab", str(tmp_path / "vocab.json"),
                "--out", str(tmp_path / "new.pth"), *options]
    else:
        full = [command, "--parsed", str(tmp_path / "parsed.parquet"), "--out-dir", str(tmp_path / "d"), *options]
    one_line(main(full), capsys.readouterr().err, needle)
    assert not (tmp_path / "out").exists() and not (tmp_path / "new.pth").exists()
