"""Evidence bound to what it judges: each way an earlier record could go stale, run as a user runs it.

One real run (two host-torch cells exporting the reference DeepLog and MSCRED, one real runtime venv) is copied
for each case; the case changes one input (a pin, the tolerance, an expectation, the warnings allow-list, a
checkpoint, the code, a kept file, the golden data, a cell or a model of matrix.toml) and runs `--resume`, a
stage alone, or the report alone. A record is reused only when its key is unchanged, with the reason said;
what the report cannot trust is no evidence (exit 2), naming it; expectations are applied when the report is
built.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.evidence.keys import EvidenceKey
from harness.golden.store import Golden
from harness.ground.records import CellResult, RuntimeResult
from harness.parity.faults import scale_initializer
from harness.report.build import build_report

from .conftest import ALLOW, cells_toml, execute

@pytest.fixture
def run(keyed_run, tmp_path) -> Path:
    """A copy of the first run (and its history record) to change."""
    copy = tmp_path / "run"
    shutil.copytree(keyed_run, copy)
    return copy


def _edit(run: Path, old: str, new: str) -> None:
    path = run / "matrix.toml"
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _doc(run: Path) -> dict:
    return json.loads((run / "reports" / "matrix.json").read_text(encoding="utf-8"))


def _decisions(run: Path) -> dict[str, str]:
    """Each cell's reason, as matrix.json gives it."""
    return {cell["id"]: cell["evidence"]["reason"] for cell in _doc(run)["cells"]}


def _runtime_decision(run: Path) -> dict:
    return RuntimeResult.read(run / "reports" / "runtimes" / "ort-1.21.1.json").decision


def _statuses(doc: dict) -> dict[str, str]:
    found = {f"{c['id']} {k['model']}.{k['check']}": k["status"] for c in doc["cells"] for k in c["checks"]}
    found |= {f"{r['id']} {o['artifact']} {o['level']} {o['engine']}": o["status"]
              for r in doc["runtimes"] for o in r["outcomes"]}
    return found


def _messages(run: Path) -> str:
    return "\n".join(_doc(run)["verdict"]["messages"])


# --- nothing changed ----------------------------------------------------------------------------------


def test_nothing_changed_reuses_every_record_and_says_from_when(keyed_run, run):
    before = _doc(keyed_run)
    code, _ = execute(run, resume=True)
    after = _doc(run)
    assert code == 0 and _statuses(after) == _statuses(before)
    for cell, earlier in zip(after["cells"], before["cells"], strict=True):
        assert cell["evidence"]["reused"] and cell["evidence"]["run"] == earlier["started"]
        assert cell["evidence"]["reason"] == f"reused (run {earlier['started'][:16].replace('T', ' ')})"
        assert cell["evidence"]["digest"] == earlier["evidence"]["digest"]
    assert (_runtime_decision(run)["reused"], _runtime_decision(run)["rerun"]) == (4, 0)


# --- inputs that change what a cell measures: the cell runs again, saying why -----------------------------


@pytest.mark.parametrize("old, new, rerun, reason, code", [
    ('id = "host"\n', 'id = "host"\npins = { numpy = "<99" }\n', ("host",), "rerun: pins changed (numpy none -> <99)", 0),
    ('seed = 3\n', 'seed = 3\n\n[tolerance]\natol = 1e-9\nrtol = 0.0\n', ("host", "other"),
     "rerun: [tolerance] changed (atol 1e-05 -> 1e-09, rtol 0.0001 -> 0.0)", 1),
    (ALLOW, "[warnings]\nallow = []\n", ("host", "other"), "rerun: [warnings] allow-list changed (", 1),
    ('models = ["deeplog", "mscred"]', 'models = ["deeplog"]', ("host", "other"),
     'rerun: cell table changed (models ["deeplog", "mscred"] -> ["deeplog"])', 0),
], ids=["pin", "tolerance", "warnings-allow-list", "model-removed"])
def test_a_changed_input_reruns_the_cells_it_concerns_with_the_reason(run, old, new, rerun, reason, code):
    _edit(run, old, new)
    got, _ = execute(run, resume=True)
    decisions = _decisions(run)
    for cell in ("host", "other"):
        assert decisions[cell].startswith(reason if cell in rerun else "reused (run "), decisions
    fresh, _ = execute(run)  # the same matrix run from scratch gives the same verdict
    assert got == fresh == code, _messages(run)


def test_a_removed_model_leaves_no_evidence_behind(run):
    _edit(run, 'models = ["deeplog", "mscred"]', 'models = ["deeplog"]')
    assert execute(run, resume=True)[0] == 0
    doc = _doc(run)
    assert doc["models"] == ["deeplog"] and not doc["ignored"]
    assert {o["artifact"].split("/")[2] for r in doc["runtimes"] for o in r["outcomes"]} == {"deeplog"}


def test_a_runtime_re_pinned_under_its_id_runs_again(run, tmp_path):
    _edit(run, 'onnxruntime = "1.21.1"', 'onnxruntime = "1.22.1"')
    code, _ = execute(run, resume=True, runtime_env_root=tmp_path / "runtime-venvs")
    decision = _runtime_decision(run)
    assert code == 0 and (decision["reused"], decision["rerun"]) == (0, 4)
    assert set(decision["reasons"].values()) == {
        "rerun: runtime table changed (onnxruntime 1.21.1 -> 1.22.1); packages changed (onnxruntime 1.21.1 -> 1.22.1)"
    }
    result = RuntimeResult.read(run / "reports" / "runtimes" / "ort-1.21.1.json")
    assert result.environment["onnxruntime"] == "1.22.1"
    assert all(reason.startswith("reused") for reason in _decisions(run).values())


def test_another_checkpoint_reruns_every_cell_on_it(run):
    reference = run / "reports" / "golden" / "reference"  # the first run's trained files, as a team's own
    team = run / "team"
    team.mkdir()
    for name in ("deeplog.pth", "vocab.json"):
        shutil.copy(reference / name, team / name)
    shutil.copy(reference / Golden.load(reference.parent).log.name, team / "app.log")
    assert execute(run, resume=True, model_dir=team)[0] == 0
    first = CellResult.read(run / "reports" / "cells" / "host.json")
    assert all(r.startswith("rerun: model entries changed (") for r in _decisions(run).values())
    _perturb_checkpoint(team / "deeplog.pth")
    assert execute(run, resume=True, model_dir=team)[0] == 0
    for reason in _decisions(run).values():
        assert "model entries changed (deeplog.checkpoint_sha256 " in reason and "golden checkpoint changed (deeplog " \
            in reason, reason
    again = CellResult.read(run / "reports" / "cells" / "host.json")
    assert again.evidence["parts"]["golden"] != first.evidence["parts"]["golden"]


def _perturb_checkpoint(path: Path) -> None:
    import torch

    payload = torch.load(path, weights_only=True)
    name = next(k for k, v in payload["state_dict"].items() if v.is_floating_point())
    payload["state_dict"][name] = payload["state_dict"][name] + 0.01
    torch.save(payload, path)


def test_records_made_by_other_code_are_run_again(run):
    for name in ("host", "other"):
        path = run / "reports" / "cells" / f"{name}.json"
        record = CellResult.read(path)
        record.evidence = EvidenceKey({**record.evidence["parts"], "source": "0" * 64}).to_dict()
        record.write(path)
    assert execute(run, resume=True)[0] == 0
    assert set(_decisions(run).values()) == {"rerun: code changed"}


# --- expectations and the gate policy: judged when the report is built ------------------------------------


XPASS = ('[gate]\nxpass = "warn"', '[gate]\nxpass = "fail"')
EXPECT = '\n[[cell.expect]]\nmodel = "deeplog"\ncheck = "golden_parity"\nreason = "expected to differ"\n'


def test_an_added_expectation_and_policy_rejudge_without_running_anything(run, host_torch):
    host = cells_toml(host_torch, ("host",))
    _edit(run, host, host + EXPECT)
    _edit(run, *XPASS)
    gate = subprocess.run([str(Path(sys.executable).parent / "alog-matrix"), "gate", "reports/matrix.json", "--matrix",
                           "matrix.toml"], cwd=run, capture_output=True, text=True, timeout=120, check=False)
    assert gate.returncode == 1, gate.stdout + gate.stderr  # the matrix.json of before, judged with today's file
    assert "XPASS host deeplog.golden_parity:" in gate.stdout
    built = build_report(run / "reports" / "cells", run / "matrix.toml", run / "reports")
    assert built.verdict.exit_code == 1
    assert any(m.startswith("XPASS host deeplog.golden_parity:") for m in built.verdict.messages)
    code, _ = execute(run, resume=True)  # nothing to run again: an expectation is not part of a key
    assert code == 1 and all(r.startswith("reused (run ") for r in _decisions(run).values())


# --- the report alone, on evidence about another matrix or other files ---------------------------------


def test_a_report_on_evidence_of_another_tolerance_is_no_evidence(run):
    _edit(run, 'seed = 3\n', 'seed = 3\n\n[tolerance]\natol = 1e-9\n')
    built = build_report(run / "reports" / "cells", run / "matrix.toml", run / "reports")
    messages = "\n".join(built.verdict.messages)
    assert built.verdict.exit_code == 2
    assert "ERROR cell host: its evidence is about another matrix ([tolerance] changed (atol 1e-05 -> 1e-09))" \
        in messages
    assert "ERROR runtime ort-1.21.1: its outcomes are about another matrix ([tolerance] changed (atol 1e-05 -> " \
        "1e-09))" in messages


def test_a_rescaled_artifact_is_never_judged_on_its_old_outcomes(run):
    onnx = run / "reports" / "artifacts" / "host" / "legacy" / "deeplog.onnx"
    scale_initializer(onnx, onnx, "head", 1.5)  # still valid ONNX, its outputs scaled
    code, _ = execute(run, stage="runtimes", resume=True)
    assert code == 2
    assert f"ERROR {onnx} no longer matches its recorded sha256" in _messages(run)
    reasons = _runtime_decision(run)["reasons"]
    assert list(reasons) == ["host/legacy/deeplog"] and reasons["host/legacy/deeplog"].startswith(
        "rerun: artifact changed (onnx ")
    code, _ = execute(run, resume=True)  # the cell makes its artifact again; the runtime runs it again
    assert code == 0
    assert _decisions(run)["host"].startswith(f"rerun: kept file {onnx} no longer matches its recorded sha256")
    assert _runtime_decision(run)["rerun"] == 1


@pytest.mark.parametrize("damage, named", [
    (lambda r: (r / "artifacts/host/legacy/deeplog.onnx").write_bytes(b"\x08" * 100),
     "artifacts/host/legacy/deeplog.onnx no longer matches its recorded sha256"),
    (lambda r: shutil.rmtree(r / "artifacts"), "artifacts/host/legacy/deeplog.onnx is missing"),
    (lambda r: shutil.rmtree(r / "golden"), "cell host: its evidence is about another matrix (golden data missing)"),
], ids=["artifact-truncated", "artifacts-removed", "golden-removed"])
def test_kept_files_changed_or_gone_are_no_evidence_then_rerun(run, damage, named):
    damage(run / "reports")
    built = build_report(run / "reports" / "cells", run / "matrix.toml", run / "reports")
    assert built.verdict.exit_code == 2
    assert any(named in m for m in built.verdict.messages), built.verdict.messages
    code, _ = execute(run, stage="cells", resume=True)
    assert code == 0, _messages(run)
    assert _decisions(run)["host"].startswith("rerun: "), _decisions(run)
    doc = _doc(run)
    kept = doc["cells"][0]["evidence"]["kept"]["legacy/deeplog.onnx"]
    judged = doc["runtimes"][0]["keys"]["host/legacy/deeplog"]["artifact"]["onnx"]
    assert kept == judged  # the kept runtime outcomes are about the very file the cell made again


def test_runtime_outcomes_of_a_re_exported_artifact_are_no_evidence_until_run_again(run):
    _edit(run, "seed = 3", "seed = 4")  # another reference checkpoint: every artifact changes
    code, _ = execute(run, stage="cells")
    assert code == 2
    assert "ERROR runtime ort-1.21.1 judged another host/legacy/deeplog than cell host kept" in _messages(run)
    code, _ = execute(run, stage="runtimes", resume=True)
    assert code == 0 and _runtime_decision(run)["rerun"] == 4


# --- records matrix.toml no longer asks for --------------------------------------------------------------


def test_a_removed_cell_is_ignored_and_said_once(run, host_torch):
    (run / "reports" / "artifacts" / "other" / "legacy" / "deeplog.onnx").write_bytes(b"broken")
    _edit(run, cells_toml(host_torch, ("other",)), "")
    code, _ = execute(run, resume=True)
    doc = _doc(run)
    assert code == 0, _messages(run)
    assert doc["ignored"] == ["cell other (other.json): not in matrix.toml, ignored"]
    assert [c["id"] for c in doc["cells"]] == ["host"]
    assert {o["artifact"].split("/")[0] for r in doc["runtimes"] for o in r["outcomes"]} == {"host"}
    assert "not in matrix.toml, ignored" in (run / "reports" / "summary.md").read_text(encoding="utf-8")
