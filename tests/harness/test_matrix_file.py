"""matrix.toml as data: the repository's cells, their pins, and a cell for a torch nobody listed."""

from __future__ import annotations

import pytest

from converter.errors import AlogError
from harness import envs
from harness.matrix import DEFAULT_MATRIX, load_matrix
from harness.results import CHECKS

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
    assert {"atol", "rtol"} <= set(matrix.tolerance)
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
    ('check = "dynamo_exprot"\nreason = "x"', "unknown check 'dynamo_exprot'"),
    ('check = "dynamo_export"\nmodel = "lstm"\nreason = "x"', "unknown model 'lstm'"),
    ('check = "dynamo_export"\noutcome = "maybe"\nreason = "x"', "outcome 'maybe'"),
    ('check = "dynamo_export"', "without a reason"),
])
def test_a_mistyped_expectation_is_refused(tmp_path, expect, message):
    path = write_matrix(tmp_path / "m.toml", f"""
[[cell]]
id = "c"
torch = "2.8.0"

[[cell.expect]]
{expect}
""")
    with pytest.raises(AlogError, match=message):
        load_matrix(path)


def test_unknown_cell_selection_is_one_clear_error(tmp_path):
    matrix = load_matrix(DEFAULT_MATRIX)
    assert [c.id for c in matrix.select(["torch-2.9.1", "torch-1.13.1"])] == ["torch-1.13.1", "torch-2.9.1"]
    with pytest.raises(AlogError, match="no cell 'torch-9.9.9'"):
        matrix.select(["torch-9.9.9"])
