"""A team's own checkpoint through the matrix: a DeepLog of a non-default architecture, trained on a real
Loghub sample with the CLI, named in a scratch matrix's [model], run in two real cells (the oldest torch,
before 2.0, and the newest) with no code change; and every way such files can be wrong, refused before
any cell starts with one line, nothing written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.config.matrix import DEFAULT_MATRIX

from .conftest import ROOT

ARCHITECTURE = {"--hidden": "24", "--layers": "1", "--embed-dim": "6"}  # not the defaults (64, 2, 16)
CELLS = ("torch-1.13.1", "torch-2.15.0")


def _cli(*argv) -> None:
    done = subprocess.run([sys.executable, "-m", "converter.cli", *map(str, argv)], capture_output=True, text=True,
                          timeout=900, check=False)
    assert done.returncode == 0, f"alog-detect {' '.join(map(str, argv))}: {done.stderr[-2000:]}"


@pytest.fixture(scope="module")
def team(tmp_path_factory, loghub):
    """models/deeplog.pth + models/vocab.json trained on BGL_2k with a window of 6, logs/app.log beside them."""
    root = tmp_path_factory.mktemp("team")
    (root / "logs").mkdir()
    log = root / "logs" / "app.log"
    log.write_bytes((loghub / "BGL_2k.log").read_bytes())
    models = root / "models"
    _cli("parse", "--log", log, "--out", root / "parsed.parquet", "--format", "bgl")
    _cli("build-deeplog", "--parsed", root / "parsed.parquet", "--out-dir", models, "--window", "6")
    _cli("deeplog-train", "--seq", models / "sequences.parquet", "--vocab", models / "vocab.json",
         "--out", models / "deeplog.pth", "--epochs", "2", "--seed", "3", *[x for kv in ARCHITECTURE.items() for x in kv])
    return root


def _repository_cells(ids) -> str:
    """The repository's tables of these cells, as written (so their venvs are the ones already built)."""
    text = DEFAULT_MATRIX.read_text(encoding="utf-8")
    blocks = text.split("[[cell]]")[1:]
    chosen = [b for b in blocks if any(f'id = "{i}"' in b for i in ids)]
    return "".join("[[cell]]" + b.split("\n\n# ---")[0] for b in chosen)


def _scratch(team: Path, model: str) -> Path:
    warnings = DEFAULT_MATRIX.read_text(encoding="utf-8").split("[warnings]")[1].split("\n[disk]")[0]
    path = team / "matrix.toml"
    path.write_text(f"""[defaults]
models = ["deeplog"]
strategies = ["legacy", "dynamo", "auto"]

[model]
{model}

[warnings]{warnings}
[gate]
xpass = "warn"
fail_on = ["fail", "error", "crash", "timeout"]

{_repository_cells(CELLS)}""", encoding="utf-8")
    return path


def test_a_teams_own_deeplog_runs_through_the_oldest_and_newest_torch(team):
    matrix = _scratch(team, 'deeplog = "models/deeplog.pth"\nvocab = "models/vocab.json"\nlog = "logs/app.log"\n'
                            'format = "bgl"')
    out = team / "reports"
    ran = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--matrix", str(matrix), "--out", str(out),
                          "--work-root", str(team / "work")], cwd=ROOT, capture_output=True, text=True, timeout=3600,
                         check=False)
    doc = json.loads((out / "matrix.json").read_text())
    digest = json.loads((out / "golden" / "manifest.json").read_text())["models"]["deeplog"]["sha256"]
    assert doc["golden"]["checkpoints"] == {"deeplog": digest}
    assert [c["id"] for c in doc["cells"]] == list(CELLS)
    for cell in doc["cells"]:
        checks = {c["check"]: c for c in cell["checks"] if c["model"] == "deeplog"}
        assert checks["checkpoint_load"]["status"] == "pass", (cell["id"], checks["checkpoint_load"]["error"])
        assert checks["checkpoint_load"]["detail"]["sha256"] == digest  # the same file in both cells
        assert checks["checkpoint_load"]["detail"]["config"] == {"vocab_size": checks["checkpoint_load"]["detail"][
            "config"]["vocab_size"], "seq_len": 6, "hidden": 24, "layers": 1, "embed_dim": 6}
        for name in ("torch_drift", "golden_parity", "legacy_export", "auto_export", "dynamic_axes", "cengine"):
            assert checks[name]["status"] == "pass", (cell["id"], name, checks[name]["error"])
        assert checks["torch_drift"]["figures"]["cases"] >= 14
        assert set(checks["golden_parity"]["detail"]["artifacts"]) >= {"legacy", "auto"}
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]


def _refused(team: Path, model: str, *extra: str) -> str:
    matrix = _scratch(team, model)
    out = team / "refused"
    ran = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--matrix", str(matrix), "--out", str(out),
                          "--work-root", str(team / "refused-work"), *extra], cwd=ROOT, capture_output=True,
                         text=True, timeout=600, check=False)
    assert ran.returncode == 2 and ran.stdout == "", ran.stdout + ran.stderr
    assert ran.stderr.count("\n") == 1 and ran.stderr.startswith("alog-matrix run: error: "), ran.stderr
    assert not out.exists()  # nothing written to reports/
    return ran.stderr


def test_a_missing_model_file_is_one_line_naming_it(team):
    err = _refused(team, 'deeplog = "models/nope.pth"\nvocab = "models/vocab.json"\nlog = "logs/app.log"')
    assert f"deeplog checkpoint {team / 'models' / 'nope.pth'}: no such file" in err


def test_a_checkpoint_that_is_not_ours_is_one_line(team):
    (team / "foreign.pth").write_bytes(b"PK\x03\x04 not really a zip")
    err = _refused(team, 'deeplog = "foreign.pth"\nvocab = "models/vocab.json"\nlog = "logs/app.log"')
    assert str(team / "foreign.pth") in err and "not a PyTorch checkpoint" in err


def test_a_vocab_that_does_not_fit_the_checkpoint_is_one_line(team):
    vocab = json.loads((team / "models" / "vocab.json").read_text())
    smaller = dict(list(vocab.items())[:-1])
    (team / "small.json").write_text(json.dumps(smaller))
    err = _refused(team, 'deeplog = "models/deeplog.pth"\nvocab = "small.json"\nlog = "logs/app.log"')
    assert "vocab has" in err and "embedding has" in err
    swapped = dict(zip(vocab, reversed(list(vocab.values())), strict=True))
    (team / "swapped.json").write_text(json.dumps(swapped))
    err = _refused(team, 'deeplog = "models/deeplog.pth"\nvocab = "swapped.json"\nlog = "logs/app.log"')
    assert "is not the vocab" in err and "was trained on" in err
    (team / "ids.json").write_text(json.dumps({str(i): i for i in range(len(vocab))}))
    err = _refused(team, 'deeplog = "models/deeplog.pth"\nvocab = "ids.json"\nlog = "logs/app.log"')
    assert "ids.json" in err and "keyed by Drain3 cluster ids" in err


@pytest.fixture
def hdfs_log(team, loghub) -> Path:
    path = team / "hdfs.log"
    path.write_bytes((loghub / "HDFS_2k.log").read_bytes())
    return path


def test_a_log_in_another_format_than_the_vocabs_is_one_line(team, hdfs_log):
    err = _refused(team, 'deeplog = "models/deeplog.pth"\nvocab = "models/vocab.json"\nlog = "hdfs.log"')
    assert f"{hdfs_log} is a hdfs log, but" in err and "were built from bgl logs" in err


def test_model_dir_is_a_shortcut_for_the_model_table(team, hdfs_log):
    err = _refused(team, 'log = "hdfs.log"', "--model-dir", str(team / "models"))
    assert "is a hdfs log, but" in err and str(team / "models" / "deeplog.pth") in err


def test_a_run_judges_exactly_the_models_it_was_given(team, host_torch):
    """--model-dir with a DeepLog only, on a matrix of DeepLog and MSCRED: the DeepLog is judged, and the run
    says once that no MSCRED was given; no MSCRED slot is skipped, errored or missing."""
    matrix = team / "given.toml"
    matrix.write_text(f"""[defaults]
models = ["deeplog", "mscred"]
strategies = ["legacy"]
checks = ["checkpoint_load", "legacy_export", "torch_drift", "golden_parity"]

[model]
log = "logs/app.log"
format = "bgl"

[gate]
xpass = "warn"
fail_on = ["fail", "error", "crash", "timeout"]

[[cell]]
id = "host"
torch = "{host_torch}"
""", encoding="utf-8")
    ran = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--host", "--matrix", "given.toml", "--out",
                          "given-reports", "--model-dir", "models"], cwd=team, capture_output=True, text=True,
                         timeout=1800, check=False)
    doc = json.loads((team / "given-reports" / "matrix.json").read_text())
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert doc["verdict"]["word"] == "PASS"
    assert {c["model"] for cell in doc["cells"] for c in cell["checks"]} == {"deeplog"}
    assert set(doc["golden"]["not_given"]) == {"mscred"}
    assert (ran.stdout + ran.stderr).count("not judged: mscred") == 1
