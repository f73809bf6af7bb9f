"""End to end through the CLI on the real Loghub samples: parse -> build -> train -> convert (each
strategy) -> validate, on the installed torch."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnx
import pytest

from converter import artifacts
from converter.cli import main
from converter.exporting import exporter_signature
from converter.ortsession import ort_session

CASES = {
    "HDFS": {"format": "hdfs", "build": ["--session-col", "none"], "mscred": True},
    "BGL": {"format": "bgl", "build": [], "mscred": False},  # BGL's MSCRED is trained by the shared fixture
}


def run(*argv: str) -> None:
    assert main([str(a) for a in argv]) == 0, f"alog-detect {' '.join(map(str, argv))} failed"


def run_console(*argv: str) -> subprocess.CompletedProcess:
    """A fresh process, as a user runs it (torch's exporter keeps state between exports in one process)."""
    done = subprocess.run([sys.executable, "-m", "converter.cli", *map(str, argv)], capture_output=True, text=True)
    assert done.returncode == 0, f"alog-detect {' '.join(map(str, argv))} failed: {done.stderr[-2000:]}"
    return done


@pytest.fixture(scope="module", params=sorted(CASES))
def trained_cli(request, loghub, tmp_path_factory):
    name = request.param
    case = CASES[name]
    work = tmp_path_factory.mktemp(f"cli-{name}")
    run("parse", "--log", loghub / f"{name}_2k.log", "--out", work / "parsed.parquet", "--format", "auto")
    run("build-deeplog", "--parsed", work / "parsed.parquet", "--out-dir", work, "--window", 10, *case["build"])
    run("deeplog-train", "--seq", work / "sequences.parquet", "--vocab", work / "vocab.json",
        "--out", work / "deeplog.pth", "--epochs", 2, "--seed", 7)
    if case["mscred"]:
        run("build-mscred", "--parsed", work / "parsed.parquet", "--out-dir", work, "--scales", "5,10", "--step", 3)
        run("mscred-train", "--signatures", work / "signatures.npz", "--out", work / "mscred.pth", "--epochs", 1)
    return name, case, work


@pytest.mark.parametrize("strategy", ["legacy", "dynamo", "auto"])
def test_convert_each_strategy_validates(trained_cli, strategy):
    name, case, work = trained_cli
    out = work / f"model-{strategy}"
    extra = ["--mscred-model", work / "mscred.pth"] if case["mscred"] else []
    console = run_console("convert-onnx", "--deeplog-model", work / "deeplog.pth", "--vocab", work / "vocab.json",
                          *extra, "--output-dir", out, "--exporter", strategy, "--validate", "--portable")
    # The exporters' own chatter and warnings are recorded in the meta file, not sprayed on the console:
    # stdout stays empty and stderr holds only our one summary line per model.
    assert console.stdout == ""
    assert [line.split(":")[0] for line in console.stderr.splitlines()] == \
        ["deeplog"] + (["mscred"] if case["mscred"] else [])

    meta = json.loads((out / "deeplog.onnx.meta.json").read_text())
    expected_exporter = {"legacy": "torchscript", "dynamo": "dynamo"}.get(strategy)
    if strategy == "auto":
        expected_exporter = "dynamo" if exporter_signature()["dynamo_keyword"] else "torchscript"
    assert meta["export"]["exporter"] == expected_exporter
    assert meta["export"]["strategy"] == strategy
    assert meta["model_type"] == "deeplog" and meta["seq_len"] == 10
    assert meta["log_format"] == case["format"] and meta["header_fields"] in (5, 9)
    assert meta["export"]["inputs"][artifacts.DEEPLOG_INPUT] == ["batch", "sequence"]
    assert meta["validation"]["failed"] == 0 and meta["validation"]["shapes"] == 12
    assert meta["versions"]["torch"] and meta["versions"]["onnxruntime"]
    assert meta["export"]["op_types"] and meta["export"]["opset"] >= 9
    for attempt in meta["export"]["attempts"]:
        assert attempt["seconds"] > 0
        assert all(set(w) == {"category", "message"} for w in attempt["warnings"])

    # engine vocab is the training vocab inverted, index for index
    training = json.loads((work / "vocab.json").read_text())
    engine = json.loads((out / "vocab.json").read_text())
    assert engine == {str(i): t for t, i in training.items()}
    assert meta["vocab_size"] == len(engine)

    # portable: single files, no temporaries left behind, no external data
    names = sorted(p.name for p in out.iterdir())
    wanted = ["deeplog.onnx", "deeplog.onnx.meta.json", "vocab.json"]
    if case["mscred"]:
        wanted += ["mscred.onnx", "mscred.onnx.meta.json"]
    assert names == sorted(wanted)
    model = onnx.load(str(out / "deeplog.onnx"))
    assert all(t.data_location != onnx.TensorProto.EXTERNAL for t in model.graph.initializer)

    # the artifact runs at a batch and a length it was never exported with
    session = ort_session(out / "deeplog.onnx")
    logits = session.run(None, {"sequences": np.zeros((5, 23), dtype=np.int64)})[0]
    assert logits.shape == (5, len(engine)) and np.isfinite(logits).all()
    if case["mscred"]:
        mmeta = json.loads((out / "mscred.onnx.meta.json").read_text())
        assert mmeta["model_type"] == "mscred" and mmeta["export"]["inputs"]["signatures"][0] == "batch"
        assert mmeta["validation"]["failed"] == 0


def test_training_is_deterministic_for_a_seed(trained_cli, tmp_path):
    import torch

    _, _, work = trained_cli
    run("deeplog-train", "--seq", work / "sequences.parquet", "--vocab", work / "vocab.json",
        "--out", tmp_path / "again.pth", "--epochs", 2, "--seed", 7)
    first = torch.load(work / "deeplog.pth", weights_only=True)["state_dict"]
    second = torch.load(tmp_path / "again.pth", weights_only=True)["state_dict"]
    assert first.keys() == second.keys()
    for key in first:
        assert torch.equal(first[key], second[key]), key
