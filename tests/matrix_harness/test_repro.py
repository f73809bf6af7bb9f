"""Issue-ready repro bundles on real artifacts: a kept DeepLog (a real cell context exported it and kept it
with its golden cases) and a copy with its output bias altered after export (a weight fault). Each bundle's
repro.py is run in a venv that holds numpy and onnxruntime only, from a folder outside this checkout."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest

from converter.compare import Tolerance
from harness.checks import golden_parity as golden_checks
from harness.checks.context import CellContext, ModelContext, Stages
from harness.config.matrix import load_matrix
from harness.envs.venvs import uv_executable
from harness.golden import build, source
from harness.golden.store import Golden
from harness.ground.records import CellResult
from harness.localize import issue
from harness.localize.diagnose import localize_bundle
from harness.localize.repro import FOLDER, run_script, write_engine_bundle
from harness.parity.faults import perturb_initializer

from .conftest import write_matrix

ROOT = Path(__file__).resolve().parents[2]
BIAS_DELTA = 0.05  # added to every logit: the whole divergence, exactly where it starts


@pytest.fixture(scope="module")
def reports(tmp_path_factory, host_torch) -> Path:
    """reports/ as a run leaves it: golden data, host/legacy/deeplog kept by a real cell context, and
    bent/legacy/deeplog, the same file with its head bias altered."""
    tmp = tmp_path_factory.mktemp("repro")
    matrix = load_matrix(write_matrix(tmp / "matrix.toml", f"""
        [[cell]]
        id = "host"
        torch = "{host_torch}"
    """))
    out = tmp / "reports"
    build.prepare(matrix, source.resolve(matrix), out / "golden", reuse=False)
    ctx = CellContext(matrix.cells[0], matrix, tmp / "work", Stages(CellResult(cell_id="host", status="complete").stages),
                      golden_dir=out / "golden", keep_dir=out / "artifacts" / "host")
    assert golden_checks.golden_parity(ModelContext(ctx, "deeplog")).passed
    bent = out / "artifacts" / "bent" / "legacy"
    shutil.copytree(out / "artifacts" / "host" / "legacy", bent)
    assert perturb_initializer(bent / "deeplog.onnx", bent / "deeplog.onnx", "head.bias", delta=BIAS_DELTA) == \
        "head.bias"
    return out


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory) -> Path:
    """A venv with numpy and this suite's onnxruntime, nothing else (no torch, no onnx, not this checkout)."""
    venv = tmp_path_factory.mktemp("bare") / "venv"
    uv = uv_executable()
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True, timeout=600)
    python = venv / "bin" / "python"
    subprocess.run([uv, "pip", "install", "-q", "--python", str(python), f"numpy=={np.__version__}",
                    f"onnxruntime=={onnxruntime.__version__}"], check=True, timeout=600)
    found = subprocess.run([str(python), "-I", "-c", "import importlib.util as u; print([m for m in "
                            "('torch', 'onnx', 'converter', 'harness') if u.find_spec(m)])"],
                           capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]", found.stdout
    return python


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=900, check=False)


def _repro(reports: Path, key: str, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return _cli("repro", key, "--reports", str(reports), "--matrix", str(reports.parent / "matrix.toml"),
                "--out", str(out), *extra)


def _run_elsewhere(bundle: Path, python: Path, tmp: Path) -> tuple[int, dict]:
    """repro.py of a copy of the bundle, outside this checkout, in ``python``: (exit code, its JSON line)."""
    moved = tmp / "elsewhere" / bundle.name
    shutil.copytree(bundle, moved)
    done = subprocess.run([str(python), "-I", "repro.py"], cwd=moved, capture_output=True, text=True, timeout=600,
                          check=False)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout.strip().splitlines()[-1])


def test_a_weight_fault_reproduces_with_numpy_and_onnxruntime_only_and_its_subgraph_is_the_gemm(
        reports, bare_python, tmp_path):
    made = _repro(reports, "bent/legacy/deeplog", tmp_path / "bundle")
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("first divergence: /head/Gemm (Gemm)"), made.stdout
    bundle = tmp_path / "bundle"

    code, seen = _run_elsewhere(bundle, bare_python, tmp_path)

    assert code == 1 and seen["onnxruntime"] == onnxruntime.__version__ and seen["level"] == "ORT_ENABLE_ALL"
    model, piece = seen["parts"]["model.onnx"], seen["parts"]["subgraph.onnx"]
    assert model["diverges"] and piece["diverges"]
    assert model["max_abs_error"] == pytest.approx(BIAS_DELTA, abs=1e-6)
    assert piece["max_abs_error"] == pytest.approx(BIAS_DELTA, abs=1e-6)
    whole, sub = onnx.load(str(bundle / "model.onnx")), onnx.load(str(bundle / "subgraph.onnx"))
    assert [n.op_type for n in sub.graph.node] == ["Gemm"] and len(whole.graph.node) > 10
    assert "head.bias" in {t.name for t in sub.graph.initializer}  # the faulty weight travels with the piece
    text = (bundle / "ISSUE.md").read_text(encoding="utf-8")
    meta = json.loads((bundle / "model.onnx.meta.json").read_text(encoding="utf-8"))
    assert "**Upstream:** PyTorch" in text
    for name in ("python", "torch", "onnx", "onnxscript", "onnxruntime"):
        assert f"| {name} | {issue.md(meta['versions'][name] or '-')} |" in text
    assert "Strategy legacy, produced by the torchscript exporter" in text
    assert issue.md((bundle / "divergence.txt").read_text().splitlines()[0]) in text
    assert "alog-matrix repro bent/legacy/deeplog --opt-level all" in text
    assert f"1 of the model's {len(whole.graph.node)} nodes" in text


def test_an_agreeing_artifact_exits_0_in_the_bare_venv_with_no_subgraph(reports, bare_python, tmp_path):
    made = _repro(reports, "host/legacy/deeplog", tmp_path / "bundle")
    assert made.returncode == 0, made.stderr
    assert "repro.py exits 0" in made.stdout.splitlines()[-1]

    code, seen = _run_elsewhere(tmp_path / "bundle", bare_python, tmp_path)

    assert code == 0 and list(seen["parts"]) == ["model.onnx"]
    assert seen["parts"]["model.onnx"]["max_abs_error"] < 1e-5
    assert not (tmp_path / "bundle" / "subgraph.onnx").exists()


def test_the_bundle_of_a_level_pins_that_level(reports, tmp_path):
    made = _repro(reports, "bent/legacy/deeplog", tmp_path / "bundle", "--opt-level", "basic")
    assert made.returncode == 0, made.stderr
    assert 'LEVEL = "ORT_ENABLE_BASIC"' in (tmp_path / "bundle" / "repro.py").read_text().replace("'", '"')
    assert run_script(tmp_path / "bundle")["exit"] == 1


@pytest.mark.parametrize("key, extra, message", [
    ("host/legacy", (), "'host/legacy' is not CELL/STRATEGY/MODEL"),
    ("host//deeplog", (), "is not CELL/STRATEGY/MODEL"),
    ("host/legacy/bert", (), "no model 'bert' (models: deeplog)"),
    ("nowhere/legacy/deeplog", (), "no kept artifact nowhere/legacy/deeplog at "),
    ("host/legacy/deeplog", ("--runtime", "ort-0.0"), "no runtime 'ort-0.0' in "),
    ("host/legacy/deeplog", ("--opt-level", "max"), "invalid choice: 'max'"),
])
def test_the_repro_command_refuses_bad_input_in_one_line(reports, tmp_path, key, extra, message):
    done = _repro(reports, key, tmp_path / "bundle", *extra)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert not (tmp_path / "bundle").exists()
    if not extra or extra[0] != "--opt-level":  # argparse prints its usage first
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_an_artifact_without_its_golden_cases_is_refused_in_one_line(reports, tmp_path):
    lone = tmp_path / "reports" / "artifacts" / "lone" / "legacy"
    lone.mkdir(parents=True)
    shutil.copyfile(reports / "artifacts" / "host" / "legacy" / "deeplog.onnx", lone / "deeplog.onnx")
    done = _cli("repro", "lone/legacy/deeplog", "--reports", str(tmp_path / "reports"), "--matrix",
                str(reports.parent / "matrix.toml"))
    assert done.returncode == 2 and "has no golden cases beside it" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_localize_out_writes_the_repro_folder(reports, bare_python, tmp_path):
    bent = reports / "artifacts" / "bent" / "legacy" / "deeplog.onnx"
    with np.load(bent.with_name("deeplog.golden.npz")) as data:
        np.save(tmp_path / "input.npy", data[next(k for k in data.files if k.startswith("in_"))])
    checkpoint = Golden.load(reports / "golden").checkpoint("deeplog")
    done = _cli("localize", "--model", str(bent), "--input", str(tmp_path / "input.npy"), "--checkpoint",
                str(checkpoint), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "divergence.json").is_file()
    code, seen = _run_elsewhere(tmp_path / "out" / FOLDER, bare_python, tmp_path)
    assert code == 1 and seen["parts"]["subgraph.onnx"]["diverges"]
    assert "harness.cli localize --model" in (tmp_path / "out" / FOLDER / "ISSUE.md").read_text()


def test_a_checks_bundle_gets_its_repro_folder_from_localize_bundle(reports, tmp_path):
    """The folder golden_parity, dynamic_axes and the parity suite write (model, input, expected) and localize:
    repro/ lands beside divergence.json, and its expected output is the one the check compared with."""
    bent = reports / "artifacts" / "bent" / "legacy"
    bundle = tmp_path / "check-bundle"
    bundle.mkdir()
    shutil.copyfile(bent / "deeplog.onnx", bundle / "model.onnx")
    shutil.copyfile(bent / "deeplog.onnx.meta.json", bundle / "model.onnx.meta.json")
    with np.load(bent / "deeplog.golden.npz") as data:
        case = next(k[3:] for k in data.files if k.startswith("in_"))
        np.save(bundle / "input.npy", data[f"in_{case}"])
        np.save(bundle / "expected.npy", data[f"out_{case}"])
    matrix = load_matrix(reports.parent / "matrix.toml")

    line = localize_bundle(bundle, Golden.load(reports / "golden").checkpoint("deeplog"), "deeplog", matrix)

    assert line.startswith("first divergence: /head/Gemm (Gemm)") and "no repro/" not in line, line
    assert (bundle / "divergence.json").is_file()
    with np.load(bundle / FOLDER / "expected.npz") as kept:
        assert np.array_equal(kept["logits"], np.load(bundle / "expected.npy"))
    seen = run_script(bundle / FOLDER)
    assert seen["exit"] == 1 and seen["parts"]["model.onnx"]["max_abs_error"] == pytest.approx(BIAS_DELTA, abs=1e-6)


def test_a_c_engine_bundle_says_it_is_ours_and_its_engine_command_runs(reports, tmp_path):
    from harness.runtimes import engine

    host = reports / "artifacts" / "host" / "legacy" / "deeplog.onnx"
    with np.load(host.with_name("deeplog.golden.npz")) as data:
        case = next(k[3:] for k in data.files if k.startswith("in_"))
        x, expected = data[f"in_{case}"], data[f"out_{case}"]
    words = [str(engine.ensure_built()), "--model", "model.onnx", "--input", "input.npy", "--output",
             "engine_output.npy", "--opt-level", "all", "--ort-lib", str(engine.default_ort_lib())]
    bundle = write_engine_bundle(tmp_path / "repro", host, x, expected, words, "c at all: 1 of 1 cases differ",
                                 command="alog-matrix run --stage runtimes")
    text = (bundle / "ISSUE.md").read_text(encoding="utf-8")
    assert "**Not upstream:**" in text and "Do not file it with ONNX Runtime" in text
    assert not (bundle / "repro.py").exists()
    done = subprocess.run(["sh", str(bundle / "engine.sh")], capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    got = np.load(bundle / "engine_output.npy")
    assert got.shape == expected.shape and np.allclose(got, expected, atol=1e-5, rtol=1e-4)


def test_issue_text_escapes_what_it_did_not_write():
    hostile = "<script>alert(1)</script> | # head ``` `x`"
    report = {"verdict": "kernel", "opt_level": "all", "lines": [hostile],
              "kernel": {"node": hostile, "op_type": "Gemm"}, "optimizer": {"transformers": {}}}
    seen = {"onnxruntime": "1.0", "parts": {}, "printed": "line\n```\nbreakout", "exit": 1, "level": "X"}
    text = issue.issue_text(report=report, meta=None, seen=seen, level="disabled", tolerance=Tolerance(),
                            command="cmd ```` end", runtime="<b>rt</b>", model_nodes=3, piece=None, dropped=None)
    assert "<script>" not in text and "<b>" not in text and "&lt;script&gt;" in text
    assert "\\| \\# head" in text  # no table cell or heading from the text
    assert "`````sh\ncmd ```` end\n`````" in text  # the fence outlasts every backtick run inside
    assert "````\nline\n```\nbreakout\n````" in text


def test_repro_py_without_numpy_or_onnxruntime_is_exit_2_not_a_divergence(tmp_path):
    """An interpreter that lacks the packages says so: exit 2, never the divergence code 1."""
    from converter.compare import Tolerance
    from harness.localize.repro import SCRIPT, script_text

    (tmp_path / SCRIPT).write_text(script_text("all", Tolerance()), encoding="utf-8")
    done = subprocess.run([sys.executable, "-I", "-S", SCRIPT], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip().startswith("repro.py needs numpy and onnxruntime: ")
