"""The engine on a team's own architectures (tests/data/hub, converted by tests/hubwork.py): parity mode gives
Python ONNX Runtime's numbers for each of them, and detection mode on a hub model with a vocab gives the Python
reference detector's verdicts over the Loghub log it was built from. Nothing in the engine is DeepLog's own
beyond the meta contract: an artifact whose scores are log-probabilities ranks as its logits would."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
import torch
from hubwork import ARCHS, SHAPE, WINDOW

from converter.detection import detect_file, detect_lines, load_model_dir, read_log
from converter.ortsession import ort_session

DETECTED = [name for name, arch in ARCHS.items() if arch.with_vocab]


def converted(hub_work, name: str):
    done = hub_work.results[name]
    assert done.returncode == 0, f"convert-onnx {ARCHS[name].entry} failed: {done.stderr[-3000:]}"
    return hub_work.onnx(name)


def parity_inputs(name: str, meta: dict) -> list[np.ndarray]:
    rng = np.random.default_rng(17)
    if ARCHS[name].interface == "next-template":
        shapes = [(2, WINDOW), (1, WINDOW), (7, WINDOW), (3, 2 * WINDOW + 3), (4, 1)]
        return [rng.integers(0, meta["vocab_size"], size=s, dtype=np.int64) for s in shapes]
    step, scales, sensors = SHAPE
    return [rng.random((b, step, scales, sensors, sensors), dtype=np.float32) for b in (1, 2, 6)]


@pytest.mark.parametrize("name", sorted(ARCHS))
def test_parity_mode_gives_python_onnxruntime_numbers(release_engine, hub_work, name, tmp_path):
    onnx_path = converted(hub_work, name)
    meta = hub_work.meta(name)
    inputs = parity_inputs(name, meta)
    pairs = []
    for i, x in enumerate(inputs):
        np.save(tmp_path / f"x{i}.npy", x)
        pairs += ["--input", tmp_path / f"x{i}.npy", "--output", tmp_path / f"y{i}.npy"]
    release_engine.run("--model", onnx_path, *pairs)  # every pair through one session
    session = ort_session(onnx_path)  # one thread, all optimizations: the engine's defaults
    for i, x in enumerate(inputs):
        got = np.load(tmp_path / f"y{i}.npy")
        expected = session.run([meta["output_name"]], {meta["input_name"]: x})[0]
        assert got.dtype == expected.dtype and got.shape == expected.shape, (got.dtype, got.shape, expected.shape)
        np.testing.assert_array_equal(got, expected, err_msg=f"{name} at {list(x.shape)}")


def verdicts(result) -> list[dict]:
    return [json.loads(line) for line in result.lines]


@pytest.mark.parametrize("name", DETECTED)
def test_detection_equals_the_reference_detector(engine, hub_work, name):
    directory = converted(hub_work, name).parent
    log = hub_work.root / hub_work.log
    got = verdicts(engine.run(directory, "--log", log))
    expected = detect_file(log, directory)
    assert len(got) == len(expected) == sum(1 for line in read_log(log) if line.strip())
    for g, e in zip(got, expected, strict=True):
        assert g == e, f"line {e['line']}: engine {g} != reference {e}"
    reasons = Counter(r["reason"] for r in got)
    # not vacuous: windows were scored and, with these untrained weights, both outcomes occur
    assert reasons["warmup"] >= 1 and reasons["in_top_g"] > 0 and reasons["not_in_top_g"] > 0, reasons
    assert reasons["in_top_g"] + reasons["not_in_top_g"] > 1000, reasons


def test_log_softmax_scores_rank_as_their_logits(release_engine, hub_work):
    """onehot_lstm ends in LogSoftmax: the top-g check ranks scores, and a monotone transform keeps ranks, so
    the engine's verdicts on its artifact are those of the same weights giving plain logits."""
    directory = converted(hub_work, "onehot_lstm").parent
    log = hub_work.root / hub_work.log
    module = hub_work.module("onehot_lstm")
    module.log_softmax = torch.nn.Identity()  # the same weights, logits out

    def logits(windows: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return module(torch.from_numpy(windows)).numpy()

    model = load_model_dir(directory)
    probe = np.zeros((3, WINDOW), dtype=np.int64)
    exported = model.predict()(probe)
    # the artifact gives log-probabilities, the reference here does not: the two really differ
    np.testing.assert_allclose(np.exp(exported).sum(axis=1), 1.0, rtol=1e-5)
    assert not np.allclose(np.exp(logits(probe)).sum(axis=1), 1.0, rtol=1e-2)

    got = verdicts(release_engine.run(directory, "--log", log))
    from_logits = detect_lines(read_log(log), model.engine_vocab, model.header_fields, model.seq_len, model.top_g,
                               logits)
    assert [(r["line"], r["verdict"], r["reason"]) for r in got] == \
        [(r["line"], r["verdict"], r["reason"]) for r in from_logits]
    assert [r["rank"] for r in got] == [r["rank"] for r in from_logits]
