"""The parity check judges a team's hub models as it judges the reference ones: one real cell context (this
interpreter's torch) with a GRU of the next-template interface and a convolutional autoencoder of the
signature-matrix one, exported with legacy, the shipped suite run in-process on the cell's artifact set
(hubs.json), each model's verdict read from its figures; then one initializer of the GRU's artifact scaled
by 1.5, which its parity must catch with a repro bundle that replays."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.checks import suite
from harness.checks.context import CellContext, ModelContext, Stages
from harness.config.matrix import load_matrix
from harness.golden import build, source
from harness.golden.store import Golden
from harness.ground.records import CellResult
from harness.parity.faults import scale_initializer
from harness.parity.hubs import HUBS_FILE, read_hubs
from harness.parity.replay import replay

from .conftest import ROOT, write_matrix

HUBS = {"gru": ("next-template", 6), "autoencoder": ("signature-matrix", 3)}  # name -> (interface, tests)


@pytest.fixture(scope="module")
def hub_matrix(tmp_path_factory, host_torch):
    """(matrix, golden folder): the two hub entries only, their golden weights built under the run's seed."""
    tmp = tmp_path_factory.mktemp("hub-parity")
    shutil.copytree(ROOT / "tests" / "data" / "hub", tmp / "hub",
                    ignore=shutil.ignore_patterns("broken_syntax", "__pycache__"))
    matrix = load_matrix(write_matrix(tmp / "matrix.toml", f"""
        [model.gru]
        hub = "hub"
        entry = "gru_next_template"
        kwargs = {{ vocab_size = 30 }}
        interface = "next-template"
        window = 10

        [model.autoencoder]
        hub = "hub"
        entry = "conv_autoencoder"
        interface = "signature-matrix"
        shape = [5, 3, 12]

        [[cell]]
        id = "host"
        torch = "{host_torch}"
    """, models=tuple(HUBS), strategies=("legacy",)))
    build.prepare(matrix, source.resolve(matrix), tmp / "golden", reuse=False)
    return matrix, tmp / "golden"


def _context(hub_matrix, work: Path) -> CellContext:
    matrix, golden = hub_matrix
    cell = matrix.cells[0]
    return CellContext(cell, matrix, work, Stages(CellResult(cell_id=cell.id, status="complete").stages),
                       golden_dir=golden)


@pytest.fixture(autouse=True)
def _ci_profile(monkeypatch):
    monkeypatch.setenv("ALOG_PARITY_PROFILE", "ci")


def test_hub_models_get_a_parity_verdict_from_the_suite(hub_matrix, tmp_path):
    ctx = _context(hub_matrix, tmp_path / "work")
    outcomes = {name: suite.parity(ModelContext(ctx, name)) for name in HUBS}

    described = {m.name: m for m in read_hubs(tmp_path / "work" / "artifacts")}
    assert sorted(p.name for p in (tmp_path / "work" / "artifacts").iterdir()) == [HUBS_FILE]  # no reference
    assert described["gru"].window == 10 and described["autoencoder"].shape == (5, 3, 12)
    assert described["gru"].onnx_path("legacy") == ctx.exported("gru").artifact("legacy")
    for name, (interface, tests) in HUBS.items():
        outcome = outcomes[name]
        assert outcome.passed, (name, outcome.error, outcome.detail.get("output_tail"))
        assert described[name].interface == interface
        assert outcome.figures["tests"] == tests and outcome.figures["examples"] > 0
        assert outcome.figures["failures"] == 0 and outcome.repro is None
        checks = {(t["check"], t["test"].split("[")[1].rstrip("]")) for t in outcome.detail["tests"]}
        assert ("numeric", f"{name}-legacy") in checks and ("numeric", f"{name}-seed11-legacy") in checks
        assert (("topg", f"{name}-legacy") in checks) == (interface == "next-template")
    assert outcomes["gru"].figures["rows"] > 0  # top-g decisions taken
    doc = json.loads(Path(outcomes["gru"].detail["figures_json"]).read_text())
    assert {t["model"] for t in doc["tests"]} == {*HUBS, "deeplog"}  # deeplog: the checker's self-checks
    assert doc["options"]["hubs"]["gru"] == {"artifacts": ["legacy"], "seeds": [11, 12]}
    assert "--artifacts" in outcomes["gru"].detail["command"]


def test_a_scaled_initializer_in_a_hub_artifact_fails_its_parity_with_a_bundle(hub_matrix, tmp_path):
    ctx = _context(hub_matrix, tmp_path / "work")
    artifact = ctx.exported("gru").artifact("legacy")
    assert artifact is not None
    edited = scale_initializer(artifact, artifact, "out.weight", factor=1.5)

    gru = suite.parity(ModelContext(ctx, "gru"))
    assert gru.passed is False and edited == "out.weight"
    assert gru.error.startswith("2 parity test(s) failed, first ") and "[gru-legacy]" in gru.error
    failed = {t["test"].split("::")[-1] for t in gru.detail["tests"] if t["outcome"] == "failed"}
    assert failed == {"test_hub_parity_given_weights[gru-legacy]", "test_hub_topg_parity_given_weights[gru-legacy]"}
    bundle = Path(gru.repro)
    document = json.loads((bundle / "bundle.json").read_text())
    assert document["hub"]["entry"] == "gru_next_template" and (bundle / "model.pth").is_file()
    assert gru.replay == document["command"]
    assert replay(bundle)[0] is True  # rebuilt by its hubconf.py from model.pth: the failure reproduces
    assert gru.detail["divergence"].startswith("first divergence"), gru.detail["divergence"]
    autoencoder = suite.parity(ModelContext(ctx, "autoencoder"))  # the same suite run: its artifact is sound
    assert autoencoder.passed, autoencoder.error


SHIPPED = ROOT / "harness" / "parity" / "suite"


def _collected(artifacts: Path, *extra: str) -> list[str]:
    """The node ids the shipped suite collects on ``artifacts``, as the parity check selects them."""
    from harness.parity.suite import plugin

    code, printed = suite.run_pytest(["--collect-only", "-q", "-p", "no:cacheprovider", "--rootdir", str(SHIPPED),
                                      "-k", "parity", str(SHIPPED), *extra],
                                     (plugin, plugin.SuiteSettings(artifacts=artifacts)))
    assert code == 0, printed
    return [line for line in printed.splitlines() if "::" in line]


def test_without_hub_models_the_suite_collects_the_reference_tests_alone(hub_matrix, tmp_path):
    """A reference artifact set (a seeded DeepLog, exported with legacy) collects exactly what it collects with
    the hub tests' module left out; hubs.json with a signature-matrix model alone adds its numeric tests only."""
    import torch

    from converter import checkpoint
    from converter.exporting import export_model
    from converter.models import DeepLog, DeepLogConfig
    from converter.specs import deeplog_spec
    from harness.parity.hubs import HubArtifacts, write_hubs

    layout = tmp_path / "set"
    torch.manual_seed(3)
    model = DeepLog(DeepLogConfig(vocab_size=12, seq_len=6, hidden=8, layers=1, embed_dim=4)).eval()
    checkpoint.save(layout / "deeplog.pth", "deeplog", model)
    export_model(model, deeplog_spec(model), layout / "legacy" / "deeplog.onnx", "legacy")
    reference = _collected(layout)
    assert reference == _collected(layout, "--ignore", str(SHIPPED / "test_parity_hub.py"))
    assert any("test_deeplog_parity_trained[set-legacy]" in n for n in reference)

    matrix, golden = hub_matrix
    weights = Golden.load(golden).checkpoint("autoencoder")
    write_hubs(layout, [HubArtifacts.of(matrix.entry("autoencoder"), weights, {"legacy": layout / "legacy"})])
    with_hub = _collected(layout)
    assert [n for n in with_hub if not n.startswith("test_parity_hub.py")] == reference
    assert sorted(n.split("::")[1] for n in with_hub if n.startswith("test_parity_hub.py")) == [
        "test_hub_parity_given_weights[autoencoder-legacy]", "test_hub_parity_reseeded[autoencoder-seed11-legacy]",
        "test_hub_parity_reseeded[autoencoder-seed12-legacy]"]
