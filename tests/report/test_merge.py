"""`report --merge DIR`: cell files downloaded from separate CI jobs become one report."""

from __future__ import annotations

import json

from report_factory import CELLS, make_cell


def test_merge_gathers_cells_from_separate_runs(workspace, alog_matrix):
    artifacts = workspace.root / "artifacts"
    # One folder per CI job, as actions/download-artifact lays them out; one nested deeper.
    for cell_id in CELLS:
        sub = artifacts / f"cell-{cell_id}" / ("cells" if cell_id == "torch-2.9.1" else "")
        sub.mkdir(parents=True, exist_ok=True)
        cell = make_cell(cell_id, {("mscred", "parity"): dict(status="fail", error="max abs error 2e-03")}
                         if cell_id == "torch-2.8.0" else None)
        cell.write(sub / f"{cell_id}.json")

    code, out, err = alog_matrix("report", "--merge", artifacts, "--cells-dir", workspace.cells_dir,
                                 "--matrix", workspace.matrix_path, "--out", workspace.out_dir)
    assert code == 0, err
    assert f"merged 4 cell files from {artifacts}" in out
    assert sorted(p.name for p in workspace.cells_dir.iterdir()) == sorted(f"{c}.json" for c in CELLS)
    doc = json.loads((workspace.out_dir / "matrix.json").read_text())
    assert [c["state"] for c in doc["cells"]] == ["complete"] * 4
    assert doc["counts"]["fail"] == 1
    assert alog_matrix("gate", workspace.out_dir / "matrix.json")[0] == 1


def test_merge_refuses_two_results_for_one_cell(workspace, alog_matrix):
    """A rerun's copy beside the first run's file: either could hide the other's failure, so neither is taken."""
    artifacts = workspace.root / "artifacts"
    (artifacts / "cell-torch-2.8.0").mkdir(parents=True)
    make_cell("torch-2.8.0", {("mscred", "parity"): dict(status="fail", error="max abs error 2e-03")}).write(
        artifacts / "cell-torch-2.8.0" / "torch-2.8.0.json")
    (artifacts / "cell-torch-2.8.0-rerun").mkdir()
    make_cell("torch-2.8.0", finished="2026-11-23T12:00:00+00:00").write(artifacts / "cell-torch-2.8.0-rerun" / "renamed.json")
    code, out, err = alog_matrix("report", "--merge", artifacts, "--cells-dir", workspace.cells_dir,
                                 "--matrix", workspace.matrix_path, "--out", workspace.out_dir)
    assert code == 2 and out == ""
    assert err.startswith("alog-matrix: error: two result files for cell torch-2.8.0: ")
    assert "renamed.json" in err and err.count("\n") == 1
    assert not (workspace.out_dir / "matrix.json").exists() and not list(workspace.cells_dir.iterdir())


def test_merge_keeps_a_corrupt_artifact_as_evidence_of_a_problem(workspace, alog_matrix):
    artifacts = workspace.root / "artifacts"
    for cell_id in list(CELLS)[:3]:
        (artifacts / cell_id).mkdir(parents=True)
        make_cell(cell_id).write(artifacts / cell_id / f"{cell_id}.json")
    (artifacts / "torch-2.13.0").mkdir()
    (artifacts / "torch-2.13.0" / "torch-2.13.0.json").write_text('{"cell_id": "torch-2.13.0", ', encoding="utf-8")
    code, _, err = alog_matrix("report", "--merge", artifacts, "--cells-dir", workspace.cells_dir,
                               "--matrix", workspace.matrix_path, "--out", workspace.out_dir)
    assert code == 0, err
    doc = json.loads((workspace.out_dir / "matrix.json").read_text())
    assert doc["cells"][3]["state"] == "unreadable"
    code, out, _ = alog_matrix("gate", workspace.out_dir / "matrix.json")
    assert code == 2 and "torch-2.13.0" in out and "is not valid JSON" in out


def test_merge_from_a_missing_folder_is_one_line_and_exit_2(workspace, alog_matrix):
    code, out, err = alog_matrix("report", "--merge", workspace.root / "nowhere", "--cells-dir", workspace.cells_dir,
                                 "--matrix", workspace.matrix_path, "--out", workspace.out_dir)
    assert code == 2
    assert err == f"alog-matrix: error: nothing to merge: {workspace.root / 'nowhere'} is not a directory\n"
    assert not (workspace.out_dir / "matrix.json").exists()
