"""A team's own architectures (tests/data/hub/hubconf.py) through ``convert-onnx --hub`` as a user runs it: a
fresh process per command, relative paths from a work folder (tests/hubwork.py), real exports, real ONNX Runtime.

Each of the four converts with auto and --validate and the artifact agrees with the module its weights build at
shapes the export never saw; every way an entry, its weights or its vocab can be wrong is one line, exit 1, and
nothing written."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from hubwork import ARCHS, LOG_FORMAT, SHAPE, WINDOW, alog_many

from converter import hub, logformats
from converter.artifacts import INTERFACES
from converter.compare import DEFAULT_TOLERANCE, compare
from converter.exporting import exporter_signature
from converter.hub import HubEntry
from converter.ortsession import ort_session

NEXT_TEMPLATE_SHAPES = [(1, WINDOW), (7, WINDOW), (3, 23)]  # the export example is [2, WINDOW]
MATRIX_BATCHES = [1, 5]


def one_line(done) -> str:
    lines = done.stderr.splitlines()
    assert len(lines) == 1, f"expected one stderr line, got {len(lines)}:\n{done.stderr[-3000:]}"
    return lines[0]


def inputs_for(name: str, vocab_size: int | None) -> list[np.ndarray]:
    rng = np.random.default_rng(5)
    if ARCHS[name].interface == "next-template":
        return [rng.integers(0, vocab_size, size=shape, dtype=np.int64) for shape in NEXT_TEMPLATE_SHAPES]
    step, scales, sensors = SHAPE
    return [rng.random((b, step, scales, sensors, sensors), dtype=np.float32) for b in MATRIX_BATCHES]


@pytest.mark.parametrize("name", sorted(ARCHS))
def test_converts_with_auto_and_validate(hub_work, name):
    arch = ARCHS[name]
    done = hub_work.results[name]
    assert done.returncode == 0, f"convert-onnx {arch.entry} failed: {done.stderr[-3000:]}"
    assert done.stdout == ""  # the exporters' chatter goes to the meta file, not the console
    line = one_line(done)
    assert line.startswith(f"{arch.entry} ({arch.interface}): ") and "validated at" in line, line

    meta = hub_work.meta(name)
    assert meta["model_type"] == INTERFACES[arch.interface]
    assert meta["architecture"] == arch.entry
    assert meta["hub"]["entry"] == arch.entry and meta["hub"]["interface"] == arch.interface
    assert meta["hub"]["hub"] == "hub" and meta["hub"]["kwargs"] == hub_work.kwargs(name)
    weights = hub_work.root / hub_work.weights(name)
    assert meta["hub"]["weights"] == weights.name
    assert meta["hub"]["weights_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert meta["export"]["strategy"] == "auto"
    assert meta["export"]["exporter"] == ("dynamo" if exporter_signature()["dynamo_keyword"] else "torchscript")
    assert meta["validation"]["failed"] == 0
    assert meta["validation"]["shapes"] == (12 if arch.interface == "next-template" else 3)
    if arch.interface == "next-template":
        assert meta["seq_len"] == WINDOW and meta["vocab_size"] == hub_work.kwargs(name)["vocab_size"]
        assert meta["export"]["inputs"][meta["input_name"]] == ["batch", "sequence"]
    else:
        assert (meta["step"], meta["scales"], meta["sensors"]) == SHAPE
        assert meta["export"]["inputs"][meta["input_name"]][0] == "batch"

    onnx_path = hub_work.onnx(name)
    wanted = {onnx_path.name, onnx_path.name + ".meta.json"} | ({"vocab.json"} if arch.with_vocab else set())
    assert {p.name for p in onnx_path.parent.iterdir()} == wanted  # no lock, no pending file left


@pytest.mark.parametrize("name", sorted(ARCHS))
def test_artifact_agrees_with_its_weights_beyond_the_export_shape(hub_work, name):
    assert hub_work.results[name].returncode == 0, hub_work.results[name].stderr[-3000:]
    meta = hub_work.meta(name)
    session = ort_session(hub_work.onnx(name))
    module = hub_work.module(name)  # built through converter.hub.load from the very state_dict converted
    other = hub_work.module(name, seed=ARCHS[name].seed + 100)  # the same entry with other weights
    strangers = 0
    for x in inputs_for(name, meta.get("vocab_size")):
        got = session.run([meta["output_name"]], {meta["input_name"]: x})[0]
        with torch.no_grad():
            expected = module(torch.from_numpy(x)).numpy()
            elsewhere = other(torch.from_numpy(x)).numpy()
        if ARCHS[name].interface == "next-template":
            assert got.shape == (x.shape[0], meta["vocab_size"])  # vocab_size is the output width
        assert compare(expected, got, DEFAULT_TOLERANCE, f"{name}{list(x.shape)}"), \
            compare(expected, got, DEFAULT_TOLERANCE, f"{name}{list(x.shape)}").describe()
        strangers += not compare(elsewhere, got, DEFAULT_TOLERANCE)
    assert strangers == len(MATRIX_BATCHES if meta["model_type"] == "mscred" else NEXT_TEMPLATE_SHAPES), \
        "other weights gave the same outputs: the comparison cannot tell the weights apart"


@pytest.mark.parametrize("name", [n for n, a in ARCHS.items() if a.with_vocab])
def test_vocab_is_written_for_the_engine(hub_work, name):
    assert hub_work.results[name].returncode == 0, hub_work.results[name].stderr[-3000:]
    training = json.loads((hub_work.root / hub_work.vocab).read_text())
    engine = json.loads((hub_work.onnx(name).parent / "vocab.json").read_text())
    assert engine == {str(i): template for template, i in training.items()}  # inverted, index for index
    meta = hub_work.meta(name)
    assert meta["vocab_size"] == len(training) == hub_work.vocab_size > 1
    assert meta["log_format"] == LOG_FORMAT and meta["header_fields"] == logformats.HEADER_FIELDS[LOG_FORMAT]


# ----- refusals: one line naming what is wrong, exit 1, nothing in the output folder


@dataclass(frozen=True)
class Refusal:
    argv: tuple[str, ...]  # after convert-onnx --output-dir refusals/out-<case>
    fragments: tuple[str, ...]  # each in the one stderr line


def _entry(entry: str, hub: str = "hub", *extra: str) -> tuple[str, ...]:
    return ("--hub", hub, "--entry", entry, "--interface", "next-template", "--window", str(WINDOW), *extra)


def _weights(file: str) -> tuple[str, ...]:
    return _entry("gru_next_template", "hub", "--weights", f"refusals/{file}")


REFUSALS = {
    "raises": Refusal(_entry("raises"), ("hub entry raises", "ValueError", "cannot build")),
    "wrong_dtype": Refusal(_entry("wrong_dtype"), ("hub entry wrong_dtype", "int64", "floating-point")),
    "wrong_rank": Refusal(_entry("wrong_rank"), ("hub entry wrong_rank", "[2, 10, 30]", "[batch, vocab]")),
    "not_a_module": Refusal(_entry("not_a_module"), ("hub entry not_a_module", "not a torch.nn.Module")),
    "missing_entry": Refusal(_entry("no_such_entry"), ("hub entry no_such_entry",)),
    "broken_syntax": Refusal(_entry("gru_next_template", "hub/broken_syntax"),
                             ("hub entry gru_next_template", "broken_syntax", "syntax error at line")),
    "missing_key": Refusal(_weights("missing.pth"), ("missing.pth", "gru_next_template", "missing key 'out.bias'")),
    "unexpected_key": Refusal(_weights("unexpected.pth"), ("unexpected.pth", "unexpected key 'extra.weight'")),
    "wrong_shape": Refusal(_weights("shape.pth"), ("shape.pth", "key 'out.bias' has shape [5]", "[30]")),
    "not_a_state_dict": Refusal(_weights("counters.pth"), ("counters.pth", "is not a state_dict")),
    "truncated": Refusal(_weights("truncated.pth"), ("truncated.pth", "truncated")),
}


@pytest.fixture(scope="module")
def refusals(hub_work):
    """Every refusal's CompletedProcess (legacy_transformer and wrong_vocab_size too), run two at a time."""
    folder = hub_work.root / "refusals"
    folder.mkdir()
    # weights of gru_next_template at its default size (30): valid ones, then each spoiled one way
    entry = HubEntry(hub_work.root / "hub", "gru_next_template", "next-template", {}, None, WINDOW)
    state = hub.load(entry, seed=1).module.state_dict()
    torch.save({k: v for k, v in state.items() if k != "out.bias"}, folder / "missing.pth")
    torch.save({**state, "extra.weight": torch.zeros(2)}, folder / "unexpected.pth")
    torch.save({**state, "out.bias": torch.zeros(5)}, folder / "shape.pth")
    torch.save({"epoch": 3, "optimizer": "adam"}, folder / "counters.pth")
    torch.save(state, folder / "whole.pth")
    whole = (folder / "whole.pth").read_bytes()
    (folder / "truncated.pth").write_bytes(whole[: len(whole) // 2])
    argvs = {case: ["convert-onnx", "--output-dir", f"refusals/out-{case}", *r.argv] for case, r in REFUSALS.items()}
    argvs["legacy_transformer"] = hub_work.convert_argv("transformer", "--weights", "transformer.pth", "--exporter",
                                                        "legacy", out=Path("refusals/out-legacy_transformer"))
    wrong = {"vocab_size": hub_work.vocab_size + 1}
    argvs["wrong_vocab_size"] = ["convert-onnx", "--output-dir", "refusals/out-wrong_vocab_size",
                                 *_entry("gru_next_template", "hub", "--kwargs", json.dumps(wrong), "--vocab",
                                         str(hub_work.vocab), "--log-format", LOG_FORMAT)]
    return alog_many(hub_work.root, argvs)


def assert_refused(hub_work, done, case: str) -> str:
    assert done.returncode == 1, f"{case}: exit {done.returncode}: {done.stderr[-3000:]}"
    assert done.stdout == ""
    line = one_line(done)
    assert line.startswith("alog-detect convert-onnx: error: "), line
    out = hub_work.root / "refusals" / f"out-{case}"
    assert not out.exists() or sorted(p.name for p in out.iterdir()) == [], "a refused conversion wrote files"
    return line


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_wrong_entry_or_weights_refused_in_one_line(hub_work, refusals, case):
    line = assert_refused(hub_work, refusals[case], case)
    for fragment in REFUSALS[case].fragments:
        assert fragment in line, f"{fragment!r} not in {line!r}"


def test_legacy_transformer_refused_naming_the_strategy(hub_work, refusals):
    # the legacy exporter bakes the export length into a Reshape: ONNX Runtime fails at other lengths, and the
    # verification catches it before anything is published
    line = assert_refused(hub_work, refusals["legacy_transformer"], "legacy_transformer")
    assert "export failed (legacy)" in line and "parity" in line, line


def test_wrong_size_vocab_refused(hub_work, refusals):
    line = assert_refused(hub_work, refusals["wrong_vocab_size"], "wrong_vocab_size")
    assert "gru_next_template" in line, line
    assert f"{hub_work.vocab_size} templates" in line and f"{hub_work.vocab_size + 1}" in line, line
