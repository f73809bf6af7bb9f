"""matrix.toml as data: the repository's cells, their pins, and a cell for a torch nobody listed."""

from __future__ import annotations

import pytest

from converter.errors import AlogError
from harness.envs import venvs as envs
from harness.config.matrix import DEFAULT_MATRIX, load_matrix
from harness.ground.names import CHECK_NAMES as CHECKS

from .conftest import write_matrix

COMPANIONS = ("numpy", "onnx", "onnxscript", "onnxruntime")


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def test_repository_matrix_has_the_seven_cells_with_companion_pins():
    matrix = load_matrix(DEFAULT_MATRIX)
    assert [c.torch for c in matrix.cells] == ["1.13.1", "2.1.2", "2.4.1", "2.8.0", "2.9.1", "2.13.0", "2.15.0"]
    for cell in matrix.cells:
        assert set(COMPANIONS) <= set(cell.pins), cell.id
        # the C engine resolves ORT API 21 at run time: every cell's onnxruntime must provide it
        assert _version(cell.pins["onnxruntime"]) >= (1, 21), cell.id
        if _version(cell.torch) < (2, 4):
            assert _version(cell.pins["numpy"]) < (2,), cell.id
    local = [c for c in matrix.cells if c.find_links]
    assert [c.torch for c in local] == ["2.13.0"]


def test_repository_matrix_policy_and_expectations():
    matrix = load_matrix(DEFAULT_MATRIX)
    assert matrix.policy.xpass in ("warn", "fail")
    assert set(matrix.policy.fail_on) == {"fail", "error", "crash", "timeout"}
    assert matrix.tolerance.atol > 0 and matrix.tolerance.rtol > 0
    for cell in matrix.cells:
        for exp in cell.expectations:
            assert exp.check in CHECKS and exp.reason


def test_a_cell_for_an_unlisted_torch_needs_no_code(tmp_path):
    matrix = load_matrix(write_matrix(tmp_path / "scratch.toml", """
        [[cell]]
        id = "torch-2.6.0"
        torch = "2.6.0"
        pins = { numpy = "2.2.6", onnx = "1.18.0", onnxscript = "0.3.2", onnxruntime = "1.22.1" }
        timeout_s = 700
    """))
    (cell,) = matrix.cells
    assert cell.requirements() == ["torch==2.6.0", "numpy==2.2.6", "onnx==1.18.0", "onnxruntime==1.22.1",
                                   "onnxscript==0.3.2"]
    assert cell.timeout_s == 700
    assert envs.env_path(cell).name == "torch-2.6.0"
    assert "UV_FIND_LINKS" not in envs.uv_environment(cell)


def test_pins_take_specifiers_as_well_as_versions(tmp_path):
    matrix = load_matrix(write_matrix(tmp_path / "m.toml", """
        [[cell]]
        id = "c"
        torch = "2.8.0"
        pins = { numpy = "<2.3", onnx = ">=1.18,<1.20" }
    """))
    assert matrix.cells[0].requirements() == ["torch==2.8.0", "numpy<2.3", "onnx>=1.18,<1.20"]


@pytest.mark.parametrize("expect, message", [
    ('check = "dynamo_exprot"\nreason = "x"', "check: 'dynamo_exprot' is not one of exporter_signature"),
    ('check = "dynamo_export"\nmodel = "lstm"\nreason = "x"', "expects a model not in [defaults].models: 'lstm' (models: deeplog)"),
    ('check = "dynamo_export"\noutcome = "maybe"\nreason = "x"', "outcome: 'maybe' is not one of fail, pass"),
    ('check = "dynamo_export"', "without a reason"),
    ('check = "dynamo_export"\nresaon = "x"', "unknown key 'resaon' (did you mean 'reason'?)"),
])
def test_a_mistyped_expectation_is_refused(tmp_path, expect, message):
    path = write_matrix(tmp_path / "m.toml", f"""
[[cell]]
id = "c"
torch = "2.8.0"

[[cell.expect]]
{expect}
""")
    with pytest.raises(AlogError) as refused:
        load_matrix(path)
    assert message in str(refused.value)


def test_unknown_cell_selection_is_one_clear_error(tmp_path):
    matrix = load_matrix(DEFAULT_MATRIX)
    assert [c.id for c in matrix.select(["torch-2.9.1", "torch-1.13.1"])] == ["torch-1.13.1", "torch-2.9.1"]
    with pytest.raises(AlogError, match="no cell 'torch-9.9.9'"):
        matrix.select(["torch-9.9.9"])


@pytest.mark.parametrize("body, message", [
    # unknown keys and tables anywhere: one line naming the file, the table, the key and the nearest valid key
    ('[[cell]]\nid = "c"\ntorch = "2.8.0"\nfind_link = false\n',
     "[[cell]] c: unknown key 'find_link' (did you mean 'find_links'?)"),
    ('[defualts]\nmodels = ["deeplog"]\n', "unknown table [defualts] (did you mean [defaults]?)"),
    ('[defaults]\ntimeout = 60\n', "[defaults]: unknown key 'timeout' (did you mean 'timeout_s'?)"),
    ('[gate]\nfail_onn = ["fail"]\n', "[gate]: unknown key 'fail_onn' (did you mean 'fail_on'?)"),
    ('[tolerance]\natoll = 1e-5\n', "[tolerance]: unknown key 'atoll' (did you mean 'atol'?)"),
    # wrong types and impossible values
    ('[defaults]\ntimeout_s = -5\n', "[defaults] timeout_s: must be an integer >= 1, got -5"),
    ('[defaults]\ntimeout_s = "abc"\n', "[defaults] timeout_s: must be an integer >= 1, got 'abc'"),
    ('[defaults]\nmodels = ["deeplog", "lstm"]\n', "[defaults] models names 'lstm', which is neither a reference model nor a [model.lstm] table"),
    ('[defaults]\nstrategies = "legacy"\n', "[defaults] strategies: must be a list, got a string"),
    ('[tolerance]\natol = "tight"\n', "[tolerance] atol: must be a number >= 0, got 'tight'"),
    ('[warnings]\nallow = ["(unclosed"]\n', "[warnings] allow[0]: '(unclosed' is not a regular expression"),
    ('[gate]\nfail_on = ["fial"]\n', "fail_on names ['fial'], which fail_on cannot hold"),
    ('[[cell]]\nid = "../../etc"\ntorch = "2.8.0"\n', "[[cell]] ../../etc id: '../../etc' is not allowed here"),
    ('[[cell]]\nid = "c"\ntorch = "2.8"\ntimeout_s = true\n', "[[cell]] c timeout_s: must be an integer >= 1, got True"),
    ('[[cell]]\nid = "c"\n', "[[cell]] c: lacks the key 'torch'"),
])
def test_the_whole_file_is_checked_against_one_schema(tmp_path, body, message):
    cell = "" if "[[cell]]" in body else '\n[[cell]]\nid = "c"\ntorch = "2.8.0"\n'
    path = tmp_path / "m.toml"
    path.write_text(body + cell, encoding="utf-8")
    with pytest.raises(AlogError) as refused:
        load_matrix(path)
    assert str(refused.value).startswith(f"{path}: ") and message in str(refused.value)
    assert "\n" not in str(refused.value)


def test_a_bad_matrix_is_refused_before_any_venv_is_built(tmp_path):
    """-5 s, a torch the registry does not have: one line, exit 2, nothing built, nothing written."""
    import subprocess
    import sys

    for name, body in (("negative", '[defaults]\ntimeout_s = -5\n[[cell]]\nid = "c"\ntorch = "2.8.0"\n'),
                       ("unknown-torch", '[[cell]]\nid = "c"\ntorch = "2.99.0"\n')):
        path = tmp_path / f"{name}.toml"
        path.write_text(body, encoding="utf-8")
        out, envs_dir, work = tmp_path / name / "reports", tmp_path / name / "envs", tmp_path / name / "work"
        ran = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--matrix", str(path), "--out", str(out),
                              "--env-root", str(envs_dir), "--work-root", str(work)], capture_output=True, text=True,
                             timeout=300, check=False)
        assert ran.returncode == 2 and ran.stdout == "", (name, ran.stdout, ran.stderr)
        assert ran.stderr.count("\n") == 1 and ran.stderr.startswith("alog-matrix run: error: "), ran.stderr
        assert not (tmp_path / name).exists(), name
    assert "cell c: its requirements cannot be installed for Python 3.11: " in ran.stderr
    assert "torch==2.99.0" in ran.stderr

