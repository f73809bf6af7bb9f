"""The converter's CLI as a user types it: `alog-detect convert-onnx` with relative paths, run from the folder
holding the checkpoint (and vocab), in this cell's venv. It must give the artifact the API's ``auto`` export
gave in the same cell: the same exporter, opset and graph. The matrix calls the API with absolute paths, so
without this check a defect of the CLI alone (a relative path handled wrongly) would never show.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from converter import artifacts
from harness.checks.registry import NoEvidence, NotReached, Outcome, check

if TYPE_CHECKING:
    from harness.checks.context import ModelContext
    from harness.checks.models import ModelUnderTest

CLI_TIMEOUT_S = 1800  # one conversion with its verification; the cell's own time limit is the real bound


def user_command(mut: ModelUnderTest) -> list[str]:
    """The words a user types, as the README shows them (relative paths, output folder `onnx`)."""
    entry = mut.entry
    if not entry.reference:
        words = ["alog-detect", "convert-onnx", "--hub", "hub", "--entry", entry.entry, "--interface", entry.interface]
        words += ["--kwargs", json.dumps(entry.kwargs, sort_keys=True)] if entry.kwargs else []
        words += ["--weights", f"{mut.name}.pth"]
        if entry.interface == "next-template":
            words += ["--window", str(entry.window)]
            words += ["--vocab", "vocab.json", "--log-format", mut.log_format] if mut.vocab is not None else []
        else:
            words += ["--shape", ",".join(map(str, entry.shape or ()))]
        return [*words, "--output-dir", "onnx"]
    if mut.entry.model_type == "deeplog":
        return ["alog-detect", "convert-onnx", "--deeplog-model", "deeplog.pth", "--vocab", "vocab.json",
                "--output-dir", "onnx"]
    return ["alog-detect", "convert-onnx", "--mscred-model", "mscred.pth", "--output-dir", "onnx"]


def graph_summary(path: Path) -> dict[str, Any]:
    """What makes two exports the same graph, whatever their names and producer fields: the ops in order and
    the initializers' contents; plus the graph's bytes (producer fields live outside the graph)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    ops = "\n".join(f"{n.domain}:{n.op_type}" for n in model.graph.node)
    weights = sorted(hashlib.sha256(f"{a.dtype}{a.shape}".encode() + a.tobytes()).hexdigest()
                     for a in (numpy_helper.to_array(t) for t in model.graph.initializer))
    return {"nodes": len(model.graph.node), "initializers": len(weights),
            "ops_sha256": hashlib.sha256(ops.encode()).hexdigest(),
            "weights_sha256": hashlib.sha256("\n".join(weights).encode()).hexdigest(),
            "graph_sha256": hashlib.sha256(model.graph.SerializeToString(deterministic=True)).hexdigest()}


def _artifact_facts(path: Path) -> dict[str, Any]:
    from converter.errors import read_json

    meta = read_json(artifacts.meta_path(path), f"no meta file beside {path}", "the meta of ")
    export = meta.get("export") or {}
    return {"exporter": export.get("exporter"), "opset": meta.get("opset"), **graph_summary(path)}


def differences(cli: dict[str, Any], api: dict[str, Any]) -> list[str]:
    """What makes the CLI's artifact another one than the API's (empty: the same)."""
    found = [f"{key} {cli[key]} (the API's auto: {api[key]})" for key in ("exporter", "opset") if cli[key] != api[key]]
    if cli["ops_sha256"] != api["ops_sha256"]:
        found.append(f"other ops ({cli['nodes']} nodes; the API's auto: {api['nodes']})")
    if cli["weights_sha256"] != api["weights_sha256"]:
        found.append(f"other initializers ({cli['initializers']}; the API's auto: {api['initializers']})")
    return found


@check("cli_export", stage="export", strategy="auto",
       meaning="the converter's CLI, typed with relative paths from the models' folder, now gives {model} on torch "
       "{torch} the artifact the API's auto export gives: a CLI-only defect there is fixed")
def cli_export(ctx: ModelContext) -> Outcome:
    return cli_against_api(ctx.exported(), ctx.work)


def cli_against_api(mut: ModelUnderTest, work: Path) -> Outcome:
    """Run the user's command in ``work/cli/<model>`` and set its artifact against ``mut``'s auto one."""
    api_path = mut.artifact("auto")
    if api_path is None:
        raise NotReached("not reached: the API's auto export made no artifact to compare the CLI's with")
    script = Path(sys.executable).parent / "alog-detect"
    if not script.is_file():
        raise NoEvidence(f"no alog-detect console script beside {sys.executable}: the CLI cannot be run as a user "
                         "runs it")
    folder = work / "cli" / mut.name  # the user's models folder: the checkpoint (and vocab), nothing else
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    shutil.copyfile(mut.checkpoint, folder / f"{mut.name}.pth")
    if mut.entry.hub is not None:
        (folder / "hub").symlink_to(mut.entry.hub, target_is_directory=True)
    elif mut.entry.model_type == "deeplog" and mut.vocab is None:
        raise NoEvidence("the golden DeepLog model has no vocab file to give the CLI")
    if mut.vocab is not None:
        shutil.copyfile(mut.vocab, folder / "vocab.json")
    words = user_command(mut)
    detail: dict[str, Any] = {"command": shlex.join(words), "cwd": str(folder)}
    done = subprocess.run([str(script), *words[1:]], cwd=folder, capture_output=True, text=True,
                          timeout=CLI_TIMEOUT_S, check=False)
    detail["exit"] = done.returncode
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        return Outcome(False, error=f"{words[0]} {words[1]} exit {done.returncode}: {last}", detail=detail)
    written = artifacts.DEEPLOG_ONNX if mut.entry.model_type == "deeplog" else artifacts.MSCRED_ONNX  # the CLI's names
    cli_path = folder / "onnx" / written
    if not cli_path.is_file():
        return Outcome(False, error=f"the CLI exited 0 but wrote no onnx/{cli_path.name}", detail=detail)
    detail["cli"], detail["api"] = _artifact_facts(cli_path), _artifact_facts(api_path)
    detail["graph_bytes_identical"] = detail["cli"]["graph_sha256"] == detail["api"]["graph_sha256"]
    found = differences(detail["cli"], detail["api"])
    if found:
        return Outcome(False, error=f"the CLI's artifact is not the API's auto one: {'; '.join(found)}", detail=detail)
    return Outcome(True, detail=detail)
