"""The GitHub workflow played here, job by job, as separate runners would run it: each job in its own
checkout folder; what a job uploads is copied out and what the next downloads is copied in, as the
workflow's upload/download steps name it; its alog-matrix and `nox -s matrix` steps run for real (on
this interpreter's torch: `--host`). On two cells and one runtime, the merged report must equal a
local `alog-matrix run` of the same matrix."""

from __future__ import annotations

import fnmatch
import glob
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.ground.names import CHECK_NAMES as CHECKS

from .conftest import ROOT, write_matrix

yaml = pytest.importorskip("yaml", reason="pyyaml is in the test extra")
WORKFLOW = ROOT / ".github" / "workflows" / "matrix.yml"
CHECKS_PLAYED = ["exporter_signature", "checkpoint_load", "legacy_export", "torch_drift", "golden_parity"]


def _checkout(target: Path, matrix_text: str) -> Path:
    """A clone's files in ``target``, with the scratch matrix as its matrix.toml."""
    for name in ("converter", "harness", "cengine"):
        shutil.copytree(ROOT / name, target / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    (target / "matrix.toml").write_text(matrix_text, encoding="utf-8")
    return target


def _command(line: str, cell: str | None) -> list[str] | None:
    """A workflow `run:` line as this machine runs it, or None for the runner's own set-up (pip, apt, summary)."""
    if cell is not None:
        line = line.replace("${{ matrix.cell }}", cell)
    words = shlex.split(line)
    if words[:4] == ["nox", "-s", "matrix", "--"]:  # the session installs the project, then `alog-matrix run`
        return [sys.executable, "-m", "harness.cli", "run", "--host", *words[4:]]
    if words[:1] == ["alog-matrix"]:
        return [sys.executable, "-m", "harness.cli", *words[1:]]
    return None


def _play_job(job: dict, folder: Path, store: Path, cell: str | None) -> list[subprocess.CompletedProcess]:
    """The job's steps in order: downloads, uploads and the project's commands (failing steps stop the job,
    as on a runner; `if: always()` steps run anyway)."""
    done: list[subprocess.CompletedProcess] = []
    failed = False
    for step in job["steps"]:
        if failed and "always()" not in str(step.get("if", "")):
            continue
        uses, args = step.get("uses", ""), step.get("with", {})
        if uses.startswith("actions/download-artifact"):
            target = folder / args["path"]
            names = [args["name"]] if "name" in args else sorted(
                p.name for p in store.iterdir() if fnmatch.fnmatch(p.name, args["pattern"]))
            for name in names:  # by name or merged: into the path; by pattern: a folder per artifact
                into = target if "name" in args or args.get("merge-multiple") else target / name
                shutil.copytree(store / name, into, dirs_exist_ok=True)
        elif uses.startswith("actions/upload-artifact"):
            # A folder's contents, or the files the globs match (flat: their common folder is the root).
            name = args["name"].replace("${{ matrix.cell }}", cell or "")
            for pattern in str(args["path"]).split():
                if "*" not in pattern:
                    if (folder / pattern).is_dir():
                        shutil.copytree(folder / pattern, store / name, dirs_exist_ok=True)
                    continue
                for path in glob.glob(str(folder / pattern)):
                    (store / name).mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(path, store / name / Path(path).name)
        elif "run" in step:
            for line in filter(None, (raw.strip() for raw in step["run"].splitlines())):
                command = _command(line, cell)
                if command is None:
                    continue
                proc = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=1200, check=False,
                                      env={**os.environ, "CI": "true"})
                done.append(proc)
                if proc.returncode != 0:
                    failed = True
                    break
    return done


def _statuses(doc: dict) -> dict:
    cells = {(c["id"], k["model"], k["check"]): k["status"] for c in doc["cells"] for k in c["checks"]}
    runtimes = {(r["id"], o["artifact"], o["level"], o["engine"]): o["status"] for r in doc["runtimes"]
                for o in r["outcomes"]}
    return {"cells": cells, "runtimes": runtimes, "verdict": doc["verdict"]["exit_code"],
            "golden": doc["golden"]["checkpoints"]}


@pytest.fixture(scope="module")
def matrix_text(tmp_path_factory, host_torch) -> str:
    path = write_matrix(tmp_path_factory.mktemp("matrix") / "matrix.toml", f"""
        [[cell]]
        id = "first"
        torch = "{host_torch}"

        [[cell]]
        id = "second"
        torch = "{host_torch}"

        [[runtime]]
        id = "ort-1.21.1"
        onnxruntime = "1.21.1"
        pins = {{ numpy = "1.26.4" }}
        levels = ["disabled", "all"]
    """, checks=CHECKS_PLAYED)
    return path.read_text(encoding="utf-8")


def test_the_workflow_played_job_by_job_gives_the_report_of_a_local_run(tmp_path, matrix_text):
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    jobs, store = workflow["jobs"], tmp_path / "artifacts-store"
    store.mkdir()
    plan = _checkout(tmp_path / "plan", matrix_text)
    planned = subprocess.run([sys.executable, "-m", "harness.cli", "gha-matrix", "--matrix", "matrix.toml"], cwd=plan,
                             capture_output=True, text=True, check=True)
    cells = [entry["cell"] for entry in json.loads(planned.stdout)["include"]]
    assert cells == ["first", "second"]
    assert jobs["cell"]["needs"] == ["plan", "golden"] and "golden" in jobs["report"]["needs"]

    played = _play_job(jobs["golden"], _checkout(tmp_path / "golden", matrix_text), store, None)
    assert [p.returncode for p in played] == [0], [p.stderr[-2000:] for p in played]
    for cell in cells:
        played = _play_job(jobs["cell"], _checkout(tmp_path / f"cell-{cell}", matrix_text), store, cell)
        assert [p.returncode for p in played] == [0], [p.stderr[-2000:] for p in played]
    assert sorted(p.name for p in store.iterdir()) == ["artifacts-first", "artifacts-second", "cell-first",
                                                       "cell-second", "golden"]
    report = _checkout(tmp_path / "report", matrix_text)
    played = _play_job(jobs["report"], report, store, None)
    assert [p.returncode for p in played] == [0, 0, 0, 0], [p.stdout[-2000:] + p.stderr[-2000:] for p in played]
    merged = json.loads((report / "reports" / "matrix.json").read_text())

    local = _checkout(tmp_path / "local", matrix_text)
    run = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--host"], cwd=local, capture_output=True,
                         text=True, timeout=1200, check=False, env={**os.environ, "CI": "true"})
    assert run.returncode == 0, run.stderr[-3000:]
    expected = _statuses(json.loads((local / "reports" / "matrix.json").read_text()))
    assert _statuses(merged) == expected
    assert len(expected["cells"]) == 2 * len(CHECKS) and len(expected["runtimes"]) == 2 * 2 * 2  # 2 artifacts
    assert {s for (_, _, check), s in expected["cells"].items() if check in CHECKS_PLAYED} == {"pass"}
    assert set(expected["runtimes"].values()) == {"pass"} and expected["verdict"] == 0
