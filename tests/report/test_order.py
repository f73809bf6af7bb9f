"""Version order: cells by torch, runtimes by onnxruntime, artifacts by cell, strategy (auto first), model."""

from __future__ import annotations

from report_factory import CELLS, healthy_world, matrix_toml

from harness.report.build import build_report
from harness.report.order import artifact_order, cell_key, runtime_key


def test_cells_sort_by_torch_version_not_by_id_string():
    cells = [{"id": i, "torch": t} for i, t in [("torch-2.13.0", "2.13.0"), ("torch-2.4.1", "2.4.1"),
                                                 ("torch-1.13.1", "1.13.1"), ("torch-2.15.0", "2.15.0")]]
    assert [c["id"] for c in sorted(cells, key=cell_key)] == ["torch-1.13.1", "torch-2.4.1", "torch-2.13.0",
                                                              "torch-2.15.0"]


def test_a_version_that_does_not_parse_sorts_last_and_the_environment_fills_in():
    cells = [{"id": "nightly", "torch": "latest"}, {"id": "b", "torch": None, "environment": {"torch": "2.9.1+cu121"}},
             {"id": "a", "torch": "10.0"}]
    assert [c["id"] for c in sorted(cells, key=cell_key)] == ["b", "a", "nightly"]


def test_runtimes_sort_by_onnxruntime_version():
    runtimes = [{"id": "new", "onnxruntime": "1.32.0"}, {"id": "old", "onnxruntime": "1.9.0"},
                {"id": "mid", "onnxruntime": "1.21.1"}]
    assert [r["id"] for r in sorted(runtimes, key=runtime_key)] == ["old", "mid", "new"]


def test_artifacts_sort_by_cell_order_then_auto_first_then_model():
    keys = ["torch-2.13.0/legacy/mscred", "torch-2.13.0/auto/mscred", "torch-2.4.1/dynamo/deeplog",
            "host/legacy/deeplog", "torch-2.13.0/auto/deeplog", "torch-2.4.1/auto/deeplog"]
    assert artifact_order(keys, ["torch-2.4.1", "torch-2.13.0"], ["deeplog", "mscred"]) == [
        "torch-2.4.1/auto/deeplog", "torch-2.4.1/dynamo/deeplog", "torch-2.13.0/auto/deeplog",
        "torch-2.13.0/auto/mscred", "torch-2.13.0/legacy/mscred", "host/legacy/deeplog"]


def test_the_report_lists_cells_in_version_order_whatever_order_the_matrix_has(workspace):
    listed = dict(reversed(list(CELLS.items())))  # torch-2.13.0 first, as a string sort would also put it
    workspace.write_matrix(cells=listed)
    workspace.write_cells(healthy_world())
    doc = build_report(workspace.cells_dir, workspace.matrix_path, workspace.out_dir).doc
    assert [c["id"] for c in doc["cells"]] == ["torch-1.13.1", "torch-2.8.0", "torch-2.9.1", "torch-2.13.0"]
    assert matrix_toml(cells=listed).index("torch-2.13.0") < matrix_toml(cells=listed).index("torch-1.13.1")
