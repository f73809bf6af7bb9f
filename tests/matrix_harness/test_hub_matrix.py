"""A team's own architectures through the matrix, named the torch.hub way in matrix.toml's [model.NAME]
tables, in the repository's oldest and newest cells (their real venvs): a GRU, another package's DeepLog
(one-hot input, explicit zero states, LogSoftmax out), a Transformer encoder and a reconstruction model of
the signature-matrix interface; and entries that are wrong in every way a team's can be, each one clear
line in each cell's record while the rest of the matrix finishes. Plus the [model.NAME] contract itself."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from converter.errors import AlogError
from harness.config.matrix import DEFAULT_MATRIX, load_matrix

from .conftest import ROOT

HUB = ROOT / "tests" / "data" / "hub"
CELLS = ("torch-1.13.1", "torch-2.15.0")
GOOD = {"gru": "gru_next_template", "onehot": "onehot_lstm", "transformer": "template_transformer",
        "autoencoder": "conv_autoencoder"}


def _repository_cells(ids) -> str:
    text = DEFAULT_MATRIX.read_text(encoding="utf-8")
    blocks = text.split("[[cell]]")[1:]
    chosen = [b for b in blocks if any(f'id = "{i}"' in b for i in ids)]
    return "".join("[[cell]]" + b.split("\n\n# ---")[0] for b in chosen)


def _warnings() -> str:
    return DEFAULT_MATRIX.read_text(encoding="utf-8").split("[warnings]")[1].split("\n[disk]")[0]


def _entry(name: str, entry: str, hub: str = "models/hub", **extra) -> str:
    lines = [f"[model.{name}]", f'hub = "{hub}"', f'entry = "{entry}"']
    lines += [f"{k} = {json.dumps(v) if not isinstance(v, str) or not v.startswith('{') else v}"
              for k, v in extra.items()]
    return "\n".join(lines) + "\n"


def _cli(cwd: Path, *argv: str) -> None:
    done = subprocess.run([sys.executable, "-m", "converter.cli", *argv], cwd=cwd, capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, f"alog-detect {' '.join(argv)}: {done.stderr[-2000:]}"


@pytest.fixture(scope="module")
def team(tmp_path_factory, loghub):
    """models/hub (the team's hubconf.py), a broken one, weights that do not fit their entry, and the
    training vocab of a real HDFS log (logs/hdfs.log) for a GRU that detects on it."""
    import torch

    from converter import hub

    root = tmp_path_factory.mktemp("hub-team")
    (root / "logs").mkdir()
    (root / "logs" / "hdfs.log").write_bytes((loghub / "HDFS_2k.log").read_bytes())
    _cli(root, "parse", "--log", "logs/hdfs.log", "--out", "parsed.parquet", "--format", "hdfs")
    _cli(root, "build-deeplog", "--parsed", "parsed.parquet", "--out-dir", "models", "--window", "10", "--session-col",
         "none")
    shutil.copytree(HUB, root / "models" / "hub", ignore=shutil.ignore_patterns("broken_syntax", "__pycache__"))
    shutil.copytree(HUB / "broken_syntax", root / "models" / "broken")
    model = torch.hub.load(str(HUB), "gru_next_template", source="local", vocab_size=31)
    hub.save_weights(model, root / "models" / "gru31.pth")  # 31 templates: does not fit vocab_size = 30
    return root


def _matrix(team: Path) -> Path:
    next_template = {"interface": "next-template", "window": 10}
    templates = len(json.loads((team / "models" / "vocab.json").read_text()))
    body = "".join([
        '[model]\nlog = "logs/hdfs.log"\nformat = "hdfs"\n\n',
        _entry("detector", "gru_next_template", kwargs=f"{{ vocab_size = {templates} }}", vocab="models/vocab.json",
               **next_template),
        _entry("gru", "gru_next_template", kwargs="{ vocab_size = 30 }", **next_template),
        _entry("onehot", "onehot_lstm", **next_template),
        _entry("transformer", "template_transformer", kwargs="{ vocab_size = 30, d_model = 32 }", **next_template),
        _entry("autoencoder", "conv_autoencoder", interface="signature-matrix", shape=[5, 3, 12]),
        _entry("raises", "raises", **next_template),
        _entry("rank", "wrong_rank", **next_template),
        _entry("dtype", "wrong_dtype", **next_template),
        _entry("misfit", "gru_next_template", kwargs="{ vocab_size = 30 }", weights="models/gru31.pth",
               **next_template),
        _entry("syntax", "model", hub="models/broken", **next_template),
    ])
    models = [*GOOD, "detector", "raises", "rank", "dtype", "misfit", "syntax"]
    path = team / "matrix.toml"
    path.write_text(f"""[defaults]
models = {json.dumps(models)}
strategies = ["legacy", "dynamo", "auto"]
checks = ["exporter_signature", "checkpoint_load", "default_call", "legacy_export", "typeerror_fallback",
          "dynamo_export", "auto_export", "cli_export", "dynamic_axes", "torch_drift", "golden_parity", "cengine",
          "warnings"]

{body}
[warnings]{_warnings()}
[gate]
xpass = "warn"
fail_on = ["fail", "error", "crash", "timeout"]
deploy = ["ort-1.21.1"]

{_repository_cells(CELLS)}
[[runtime]]
id = "ort-1.21.1"
onnxruntime = "1.21.1"
pins = {{ numpy = "1.26.4" }}
""", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def hub_run(team):
    matrix = _matrix(team)
    out = team / "reports"
    ran = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--matrix", "matrix.toml", "--out", "reports"],
                         cwd=team, capture_output=True, text=True, timeout=3600, check=False)
    assert (out / "matrix.json").is_file(), ran.stdout[-3000:] + ran.stderr[-3000:]
    return ran, json.loads((out / "matrix.json").read_text()), matrix


def _checks(cell: dict, model: str) -> dict[str, dict]:
    return {c["check"]: c for c in cell["checks"] if c["model"] == model}


def test_the_teams_architectures_are_judged_in_the_oldest_and_newest_torch(hub_run):
    ran, doc, _ = hub_run
    assert ran.returncode in (0, 1), ran.stderr[-3000:]  # a verdict, never a harness error or "no evidence"
    assert [c["id"] for c in doc["cells"]] == list(CELLS)
    origins = doc["golden"]["origins"]
    assert origins["transformer"]["entry"] == "template_transformer"
    assert origins["transformer"]["kwargs"] == {"vocab_size": 30, "d_model": 32}
    for cell in doc["cells"]:
        assert cell["state"] == "complete", cell["id"]
        for model in GOOD:
            checks = _checks(cell, model)
            for name in ("checkpoint_load", "auto_export", "torch_drift", "golden_parity", "dynamic_axes", "cengine"):
                assert checks[name]["status"] == "pass", (cell["id"], model, name, checks[name]["error"])
            assert checks["cengine"]["figures"]["examples"] >= 2


def test_the_deploy_runtime_runs_every_artifact_of_the_teams_models(hub_run):
    """Each kept artifact of a hub entry, in the deploy runtime's own venv, through Python and the C engine at
    every level, agrees with the golden outputs."""
    _, doc, _ = hub_run
    runtime = next(r for r in doc["runtimes"] if r["id"] == "ort-1.21.1")
    outcomes = [o for o in runtime["outcomes"] if o["artifact"].split("/")[2] in GOOD]
    models = {o["artifact"].split("/")[2] for o in outcomes}
    assert models == set(GOOD) and {o["engine"] for o in outcomes} == {"python", "c"}
    bad = [(o["artifact"], o["engine"], o["level"], o["status"], o.get("error")) for o in outcomes
           if o["status"] != "pass"]
    assert not bad, bad[:5]


def test_the_report_and_gate_never_run_the_teams_code(hub_run, team):
    """Hub code runs only where a model's torch is (cells, the golden stage, localization): rebuilding the
    report and the verdict of a matrix with hub entries imports neither torch nor the team's hubconf.py."""
    script = ("import sys\nfrom harness import cli\n"
              "code = cli.main(['report', '--matrix', 'matrix.toml', '--out', 'reports'])\n"
              "print(code, sorted(m for m in ('torch', 'converter.hub', 'hubconf', 'numpy') if m in sys.modules))\n")
    ran = subprocess.run([sys.executable, "-c", script], cwd=team, capture_output=True, text=True, timeout=600,
                         check=False)
    assert ran.stdout.strip().splitlines()[-1] in ("0 []", "1 []"), ran.stdout + ran.stderr


def test_a_hub_model_with_a_vocab_detects_on_the_log_in_the_engine_as_in_python(hub_run):
    """With a vocab and [model] log, the golden inputs include the detector's own windows of the log, and the
    C engine's verdicts on that log equal the Python detector's, line for line, in both torches."""
    _, doc, _ = hub_run
    for cell in doc["cells"]:
        engine = _checks(cell, "detector")["cengine"]
        assert engine["status"] == "pass", (cell["id"], engine["error"])
        detection = engine["detail"]["detection"]
        assert detection["lines"] > 1000 and detection["disagreements"] == 0, detection
        drift = _checks(cell, "detector")["torch_drift"]
        assert drift["status"] == "pass" and any(c["case"].startswith("log-windows") for c in drift["detail"]["per_case"])


def test_a_transformer_whose_legacy_export_freezes_the_length_is_caught(hub_run):
    _, doc, _ = hub_run
    newest = next(c for c in doc["cells"] if c["id"] == CELLS[-1])
    legacy = _checks(newest, "transformer")["legacy_export"]
    assert legacy["status"] == "fail" and "Reshape" in legacy["error"], legacy["error"]


@pytest.mark.parametrize(("model", "expected"), [
    ("raises", "raised ValueError: this entry cannot build a model of 30 templates"),
    ("rank", "returns float32 [2, 10, 30] for ids [2, 10]; a next-template model returns scores [batch, vocab]"),
    ("dtype", "returns int64 [2, 10]; a next-template model returns floating-point scores"),
    ("misfit", "gru31.pth does not fit hub entry gru_next_template"),
    ("syntax", "hubconf.py: syntax error at line 6"),
])
def test_a_wrong_entry_is_one_line_in_each_cells_record_and_the_rest_goes_on(hub_run, model, expected):
    _, doc, _ = hub_run
    assert "error" in doc["golden"]["origins"][model]
    for cell in doc["cells"]:
        checks = _checks(cell, model)
        load = checks["checkpoint_load"]
        assert load["status"] == "fail" and expected in load["error"] and "\n" not in load["error"], load["error"]
        others = [c for name, c in checks.items() if name not in ("checkpoint_load", "exporter_signature")
                  and c["error"] != "not selected in [defaults].checks"]
        assert others and all(c["status"] == "skip" and c["error"].startswith("not reached") for c in others), \
            [(c["check"], c["status"], c["error"]) for c in others]
    if model == "misfit":
        assert "'embed.weight' has shape [31, 8], the model's is [30, 8]" in load["error"]


@pytest.mark.parametrize(("table", "message"), [
    ('[model.vocab]\nhub = "h"\nentry = "e"\ninterface = "next-template"\nwindow = 3',
     "[model].vocab: 'vocab' is a reserved name"),
    ('[model.t]\nhub = "h"\nentry = "e"\ninterface = "next-template"', "a next-template model needs window = N"),
    ('[model.t]\nhub = "h"\nentry = "e"\ninterface = "signature-matrix"\nwindow = 3',
     "a signature-matrix model needs shape = [step, scales, sensors]"),
    ('[model.t]\nhub = "h"\nentry = "e"\ninterface = "next-token"\nwindow = 3', "'next-token' is not one of"),
    ('[model.t]\nhub = "h"\nentry = "e"\ninterface = "next-template"\nwindow = 3\nwieghts = "w.pth"',
     "unknown key 'wieghts' (did you mean 'weights'?)"),
    ('[model.t]\nhub = "h"\nentry = "e"\ninterface = "next-template"\nwindow = 3\nkwargs = { when = 1979-05-27 }',
     "cannot be a keyword argument"),
])
def test_a_wrong_hub_table_is_refused_before_anything_runs(tmp_path, table, message):
    path = tmp_path / "matrix.toml"
    path.write_text(f'{table}\n\n[[cell]]\nid = "c"\ntorch = "2.13.0"\n', encoding="utf-8")
    with pytest.raises(AlogError) as refused:
        load_matrix(path)
    assert message in str(refused.value) and "\n" not in str(refused.value)


def test_hub_entries_are_models_of_the_matrix_with_paths_from_its_folder(tmp_path):
    path = tmp_path / "gate.toml"
    path.write_text('[defaults]\nmodels = ["deeplog", "t"]\n\n[model.t]\nhub = "models/hub"\nentry = "e"\n'
                    'interface = "next-template"\nwindow = 4\nvocab = "models/vocab.json"\n\n'
                    '[[cell]]\nid = "c"\ntorch = "2.13.0"\n[[cell.expect]]\nmodel = "t"\ncheck = "legacy_export"\n'
                    'reason = "the length is baked in"\n', encoding="utf-8")
    matrix = load_matrix(path)
    entry = matrix.entry("t")
    assert matrix.models == ("deeplog", "t") and not entry.reference and matrix.entry("deeplog").reference
    assert entry.hub == tmp_path / "models" / "hub" and entry.vocab == tmp_path / "models" / "vocab.json"
    assert entry.artifact_files() == ("t.onnx", "t.onnx.meta.json", "t.vocab.json")
    assert matrix.cells[0].expected("t", "legacy_export") is not None


def test_when_no_strategy_keeps_the_axes_dynamic_auto_fails_in_one_line_naming_each(tmp_path):
    """A model whose positions are built from the length in Python: dynamo freezes the sequence axis, the
    TorchScript export bakes it in; auto says both, in one line, and writes nothing."""
    ran = subprocess.run([sys.executable, "-m", "converter.cli", "convert-onnx", "--hub", str(HUB), "--entry",
                          "frozen_positions", "--interface", "next-template", "--window", "6", "--output-dir", "out"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=900, check=False)
    lines = ran.stderr.strip().splitlines()
    assert ran.returncode == 1 and len(lines) == 1, ran.stderr
    reasons = lines[0].split("export failed (auto): ", 1)[1].split("; ")
    exporters = [r.split(" ", 1)[0] for r in reasons if r.split(" ", 1)[0] in ("dynamo", "torchscript")]
    assert exporters == ["dynamo", "torchscript"], lines[0]
    assert "frozen_positions" in lines[0] and not any((tmp_path / "out").glob("*.onnx"))


@pytest.fixture(scope="module")
def gru_artifact(tmp_path_factory):
    """A GRU hub entry's legacy artifact, its seeded weights, and a matrix naming the entry."""
    from converter import convert, hub
    from harness.config.models import ModelEntry

    root = tmp_path_factory.mktemp("hub-localize")
    entry = ModelEntry("gru", "next-template", HUB, "gru_next_template", {"vocab_size": 30}, window=10)
    weights = root / "gru.pth"
    hub.save_weights(hub.load(entry.hub_entry(None), seed=5).module, weights)
    convert.convert_hub(entry.hub_entry(weights), root / "model", exporter="legacy", onnx_name="gru.onnx")
    (root / "gate.toml").write_text(f'[defaults]\nmodels = ["gru"]\n\n[model.gru]\nhub = "{HUB}"\n'
                                    'entry = "gru_next_template"\nkwargs = { vocab_size = 30 }\n'
                                    'interface = "next-template"\nwindow = 10\n\n[[cell]]\nid = "c"\n'
                                    'torch = "2.13.0"\n', encoding="utf-8")
    return root, entry, weights


def test_a_foreign_modules_fault_is_named_by_its_own_scope_name(gru_artifact, tmp_path):
    """The localizer sets a hub entry's own modules (named as its team named them) against the graph."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    from harness.localize.diagnose import localize

    root, entry, weights = gru_artifact
    model = onnx.load(str(root / "model" / "gru.onnx"))
    gru_weights = [n.input[1] for n in model.graph.node if n.op_type == "GRU"]
    assert gru_weights, [n.op_type for n in model.graph.node]
    for tensor in model.graph.initializer:
        if tensor.name == gru_weights[0]:
            tensor.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(tensor) * np.float32(1.5), tensor.name))
    onnx.save(model, str(tmp_path / "gru.onnx"))
    x = np.random.default_rng(0).integers(0, 30, (4, 10)).astype(np.int64)

    report = localize(tmp_path / "gru.onnx", x, weights, "deeplog", hub=entry)

    assert report["verdict"] == "exporter", report["lines"]
    first = report["exporter"]["module"]
    assert (first["module"], first["class"], first["op_type"]) == ("gru", "GRU", "GRU"), first
    assert _rows(report)["embed"]["state"] == "agrees"
    np.save(tmp_path / "x.npy", x)
    ran = subprocess.run([sys.executable, "-m", "harness.cli", "localize", "--model", "gru.onnx", "--input", "x.npy",
                          "--checkpoint", str(weights), "--hub", "gru", "--matrix", str(root / "gate.toml")],
                         cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False)
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout.strip().splitlines()[-1]) == {"verdict": "exporter"}
    assert "(GRU)" in ran.stdout.splitlines()[0], ran.stdout


def _rows(report) -> dict[str, dict]:
    return {row["module"]: row for row in report["exporter"]["modules"]}
