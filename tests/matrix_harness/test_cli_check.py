"""The matrix's CLI check: `alog-detect convert-onnx` typed as a user types it (relative paths, from the
models' folder) must give the API's auto artifact; when it gives another, the check fails and says how."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from converter.compare import Tolerance
from harness.checks import CHECKS
from harness.checks.cli import _artifact_facts, cli_against_api, differences, user_command
from harness.checks.models import ModelUnderTest, export_strategies
from harness.config.models import REFERENCE_ENTRIES


def _model_under_test(trained, name: str) -> ModelUnderTest:
    from converter import checkpoint, specs

    result = trained["HDFS"]
    path = result.deeplog_checkpoint if name == "deeplog" else result.mscred_checkpoint
    model, _ = checkpoint.load(path, name)
    return ModelUnderTest(name, path, model, specs.spec_for(model), Path("unused.log"), REFERENCE_ENTRIES[name],
                          vocab=result.vocab if name == "deeplog" else None)


def test_the_check_runs_right_after_auto_export():
    assert CHECKS[CHECKS.index("auto_export") + 1] == "cli_export"


def test_the_command_is_the_one_users_type():
    assert user_command(ModelUnderTest("deeplog", Path("x"), None, None, Path("x"), REFERENCE_ENTRIES["deeplog"])) == [
        "alog-detect", "convert-onnx", "--deeplog-model", "deeplog.pth", "--vocab", "vocab.json", "--output-dir", "onnx"]
    assert user_command(ModelUnderTest("mscred", Path("x"), None, None, Path("x"), REFERENCE_ENTRIES["mscred"]))[2:4] == ["--mscred-model",
                                                                                             "mscred.pth"]


def test_two_exports_of_one_checkpoint_in_two_processes_are_the_same_artifact(model_dir):
    """What the check compares ignores names and producer fields: the dynamo and auto files of torch 2.13
    (separate processes) are one graph; the TorchScript file is another, named by exporter and opset."""
    dynamo = _artifact_facts(model_dir("HDFS", "dynamo") / "deeplog.onnx")
    auto = _artifact_facts(model_dir("HDFS", "auto") / "deeplog.onnx")
    legacy = _artifact_facts(model_dir("HDFS", "legacy") / "deeplog.onnx")
    if auto["exporter"] != "dynamo":
        pytest.skip(f"this torch's auto export is {auto['exporter']}")
    assert differences(auto, dynamo) == []
    found = differences(legacy, auto)
    assert found[0] == f"exporter torchscript (the API's auto: dynamo)"
    assert any(f.startswith("opset 17") for f in found) and any(f.startswith("other ops") for f in found)


@pytest.mark.parametrize("name", ["deeplog", "mscred"])
def test_the_cli_typed_from_the_models_folder_gives_the_apis_auto_artifact(trained, tmp_path, name):
    mut = _model_under_test(trained, name)
    export_strategies(mut, ("auto",), tmp_path, Tolerance())
    outcome = cli_against_api(mut, tmp_path)
    assert outcome.detail["cwd"] == str(tmp_path / "cli" / name)
    assert sorted(p.name for p in (tmp_path / "cli" / name).iterdir()) == sorted(
        [f"{name}.pth", "onnx"] + (["vocab.json"] if name == "deeplog" else []))
    assert outcome.passed, outcome.error
    assert outcome.detail["cli"]["exporter"] == outcome.detail["api"]["exporter"]


def test_a_cli_artifact_other_than_the_apis_is_a_failing_check(trained, tmp_path):
    """The API's auto record and folder replaced by those of the exporter the CLI did not use, as when the CLI
    alone falls back (or alone does not): the check fails and names the difference."""
    mut = _model_under_test(trained, "deeplog")
    export_strategies(mut, ("legacy", "dynamo", "auto"), tmp_path, Tolerance())
    typed = cli_against_api(mut, tmp_path).detail["cli"]["exporter"]
    other = "legacy" if typed == "dynamo" else "dynamo"
    if mut.artifact(other) is None:
        pytest.skip(f"this torch's {other} export made no artifact")
    mut.records["auto"], mut.model_dirs["auto"] = mut.records[other], mut.model_dirs[other]
    outcome = cli_against_api(mut, tmp_path)
    assert outcome.passed is False
    assert outcome.error.startswith(f"the CLI's artifact is not the API's auto one: exporter {typed} ")
    assert outcome.detail["graph_bytes_identical"] is False


def test_a_cli_that_fails_is_a_failing_check_with_its_line(trained, tmp_path):
    mut = _model_under_test(trained, "deeplog")
    export_strategies(mut, ("auto",), tmp_path, Tolerance())
    broken = tmp_path / "broken-vocab.json"
    broken.write_text("{not json", encoding="utf-8")
    mut.vocab = broken
    outcome = cli_against_api(mut, tmp_path)
    assert outcome.passed is False and outcome.detail["exit"] == 1
    assert outcome.error.startswith("alog-detect convert-onnx exit 1: ")
    shutil.rmtree(tmp_path / "cli")
