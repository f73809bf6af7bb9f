"""The gate as a team uses it: a wheel of this project installed into a fresh venv, run in an empty folder of
its own. State goes beside the matrix file, never into site-packages or the checkout; the cells install one
wheel of the running code; the C engine is built into the state folder from the sources the wheel carries."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from converter.errors import AlogError
from harness.config.matrix import load_matrix
from harness.envs import venvs as envs
from harness.envs.findlinks import pip_find_links
from harness.envs.wheel import build_wheel
from harness.ground.paths import CHECKOUT_STATE, ROOT, state_for
from harness.runtimes import engine

from .conftest import write_matrix

SKIPPED = {".nox", ".pytest_cache", ".hypothesis", ".git", "__pycache__", "node_modules"}


def _tree(folder: Path) -> dict[str, int]:
    """Every file under ``folder`` (caches of the tools left out) with its modification time."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if d not in SKIPPED]
        for name in filenames:
            path = Path(dirpath, name)
            found[str(path.relative_to(folder))] = path.lstat().st_mtime_ns
    return found


def _team_environment(venv: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONPYCACHEPREFIX", "UV_FIND_LINKS")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["CI"] = "true"
    return env


@pytest.mark.slow
@pytest.mark.skipif(not pip_find_links(), reason="needs pip's local wheel folder (global.find-links) for CPU torch")
def test_a_team_installs_the_gate_and_runs_it_in_its_own_folder(tmp_path):
    uv = envs.uv_executable()
    dist = tmp_path / "dist"
    built = subprocess.run([uv, "build", "--wheel", "--out-dir", str(dist), str(ROOT)], capture_output=True,
                           text=True, timeout=600, check=False)
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = dist.glob("alog_detect-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([uv, "venv", "--quiet", "--python", "3.11", str(venv)], check=True, timeout=300)
    # The orchestrator's own torch: the local CPU wheel (pip's find-links), as this machine's tests use.
    install_env = {**os.environ, "UV_FIND_LINKS": ",".join(pip_find_links())}
    install_env.pop("VIRTUAL_ENV", None)
    installed = subprocess.run([uv, "pip", "install", "--python", str(venv / "bin" / "python"),
                                f"{wheel}[harness]", "torch==2.13.0"], env=install_env, capture_output=True,
                               text=True, timeout=1800, check=False)
    assert installed.returncode == 0, installed.stderr[-2000:]
    site = next((venv / "lib").glob("python3*/site-packages"))
    team = tmp_path / "team"
    team.mkdir()
    env = _team_environment(venv)
    site_before, checkout_before = _tree(site), _tree(ROOT)

    init = subprocess.run(["alog-matrix", "init"], cwd=team, env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert init.returncode == 0, init.stderr
    gate = team / "gate.toml"
    # The team keeps one cell of the starter (the gate judges every cell its file names: a cell left out of a
    # run would be no evidence).
    text = gate.read_text(encoding="utf-8")
    start = text.index('[[cell]]\nid = "torch-2.4.1"')
    gate.write_text(text[:start] + text[text.index('[[cell]]\nid = "torch-2.15.0"'):], encoding="utf-8")
    ran = subprocess.run(["alog-matrix", "run", "--jobs", "1"], cwd=team, env=env,
                         capture_output=True, text=True, timeout=3600, check=False)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert "alog-matrix gate: PASS" in ran.stdout

    document = json.loads((team / "reports" / "matrix.json").read_text(encoding="utf-8"))
    (cell,) = [c for c in document["cells"] if c["id"] == "torch-2.15.0"]
    statuses = {(check["model"], check["check"]): check["status"] for check in cell["checks"]}
    assert statuses and set(statuses.values()) <= {"pass", "xfail"}, statuses  # every check with evidence
    assert statuses[("deeplog", "cengine")] == statuses[("mscred", "cengine")] == "pass"
    outcomes = [o for runtime in document["runtimes"] for o in runtime["outcomes"]]
    assert {o["engine"] for o in outcomes} == {"python", "c"} and {o["status"] for o in outcomes} == {"pass"}
    state = team / ".alog-matrix"
    assert (state / "cells" / "torch-2.15.0").is_dir() and (state / "runtimes" / "ort-1.21.1").is_dir()
    assert next(state.glob("engine/*/bin/inference_engine")).is_file()  # built from the wheel's sources
    cell_python = state / "cells" / "torch-2.15.0" / "bin" / "python"
    imported = subprocess.run([str(cell_python), "-c", "import harness; print(harness.__file__)"], cwd=tmp_path,
                              capture_output=True, text=True, check=True).stdout.strip()
    assert imported.startswith(str(state / "cells" / "torch-2.15.0"))  # the wheel, not a path into a source tree
    assert _tree(site) == site_before, "the run wrote into site-packages"
    assert _tree(ROOT) == checkout_before, "the run wrote into the checkout"


def test_init_writes_a_valid_starter_once(tmp_path):
    cli = [sys.executable, "-m", "harness.cli"]
    first = subprocess.run([*cli, "init", "--github"], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert first.returncode == 0, first.stderr
    matrix = load_matrix(tmp_path / "gate.toml")
    assert [c.id for c in matrix.cells] == ["torch-2.4.1", "torch-2.15.0"] and matrix.deploy == ("ort-1.21.1",)
    assert matrix.models == ("deeplog", "mscred") and not matrix.model  # the reference models
    assert (tmp_path / ".github" / "workflows" / "alog-matrix.yml").is_file()
    again = subprocess.run([*cli, "init"], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert again.returncode == 2 and again.stderr.count("\n") == 1 and "gate.toml exists" in again.stderr


def test_commands_find_the_matrix_of_the_current_folder_or_say_how_to_make_one(tmp_path):
    cli = [sys.executable, "-m", "harness.cli"]
    nothing = subprocess.run([*cli, "gha-matrix"], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert nothing.returncode == 2 and "alog-matrix init" in nothing.stderr and "Traceback" not in nothing.stderr
    write_matrix(tmp_path / "gate.toml", '[[cell]]\nid = "c"\ntorch = "2.8.0"\n')
    found = subprocess.run([*cli, "gha-matrix"], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert found.returncode == 0 and json.loads(found.stdout)["include"] == [{"cell": "c", "torch": "2.8.0"}]


def test_state_lives_beside_the_matrix_file_and_the_checkout_keeps_its_own(tmp_path):
    state = state_for(tmp_path / "gate.toml")
    assert state.root == tmp_path / ".alog-matrix" and state.reports == tmp_path / "reports"
    assert state.cell_envs == tmp_path / ".alog-matrix" / "cells" and state.engine.parent == state.root
    assert state_for(tmp_path / "gate.toml", tmp_path / "elsewhere").root == tmp_path / "elsewhere"
    assert state_for(ROOT / "matrix.toml") == CHECKOUT_STATE and CHECKOUT_STATE.root == ROOT / ".nox"


def test_the_cells_wheel_is_the_same_bytes_for_the_same_code(tmp_path):
    first, second = build_wheel(tmp_path / "a"), build_wheel(tmp_path / "b")
    assert first.digest == second.digest and first.path.read_bytes() == second.path.read_bytes()
    import zipfile

    names = zipfile.ZipFile(first.path).namelist()
    assert "alog_cengine/Makefile" in names and "harness/parity/suite/plugin.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or "/third_party/" in n]


def test_the_engine_builds_once_per_source_digest_in_the_state_folder(tmp_path):
    binary = engine.ensure_built(build_root=tmp_path / "engine")
    assert binary.is_file() and binary.parent.parent.parent == tmp_path / "engine"
    assert binary.parent.parent.name == engine.source_digest(engine.CENGINE_DIR)[:16]
    assert engine.ensure_built(build_root=tmp_path / "engine") == binary  # reused
    shown = subprocess.run([str(binary), "--help"], capture_output=True, text=True, check=False)
    assert "inference_engine" in (shown.stdout + shown.stderr)


def test_an_engine_that_cannot_be_built_is_no_evidence(tmp_path, monkeypatch, host_torch):
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))  # no make, no compiler
    with pytest.raises(AlogError) as caught:
        engine.ensure_built(build_root=tmp_path / "engine")
    assert "make" in str(caught.value) and "\n" not in str(caught.value)
    monkeypatch.undo()

    from harness.checks.context import CellContext, Stages
    from harness.checks.recorder import Recorder, run_registry
    from harness.golden import build, source
    from harness.ground.records import CellResult

    matrix = load_matrix(write_matrix(tmp_path / "gate.toml", f'[[cell]]\nid = "host"\ntorch = "{host_torch}"\n',
                                      checks=["cengine"]))
    golden = tmp_path / "golden"
    build.prepare(matrix, source.resolve(matrix), golden, reuse=False)
    monkeypatch.setenv(engine.ENGINE_ERROR_ENV, "make: not found")
    cell = matrix.cells[0]
    result = CellResult(cell_id=cell.id, status="complete")
    ctx = CellContext(cell, dataclasses.replace(matrix), tmp_path / "work", Stages(result.stages), golden_dir=golden,
                      keep_dir=tmp_path / "kept")
    run_registry(ctx, Recorder(cell, result, lambda r: None))
    (check,) = [c for c in result.checks if c.check == "cengine"]
    assert check.status == "missing" and "the C engine is not available here" in (check.error or "")
