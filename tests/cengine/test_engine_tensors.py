"""Parity and info modes on the converter's real artifacts, for every export strategy: the engine's
outputs against Python ONNX Runtime (same library: equal within 1e-6) and against PyTorch (the
project's tolerance policy, converter/compare.py)."""

from __future__ import annotations

import io
import json
import os
import stat
from itertools import combinations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from converter import checkpoint
from converter.compare import DEFAULT_TOLERANCE, compare

STRATEGIES = ("legacy", "dynamo", "auto")
DATASETS = ("HDFS", "BGL")
ORT_ATOL = 1e-6


def deeplog_inputs(meta: dict, rng: np.random.Generator) -> list[np.ndarray]:
    vocab, seq = meta["vocab_size"], meta["seq_len"]
    # The export shape, batch 1, a larger batch, and other sequence lengths (dynamic axes).
    shapes = [(2, seq), (1, seq), (7, seq), (3, 2 * seq + 1), (5, 1)]
    return [rng.integers(0, vocab, size=s, dtype=np.int64) for s in shapes]


def mscred_inputs(meta: dict, rng: np.random.Generator) -> list[np.ndarray]:
    inner = (meta["step"], meta["scales"], meta["sensors"], meta["sensors"])
    return [rng.random((b, *inner), dtype=np.float32) for b in (1, 2, 5)]


OPT_LEVELS = {"disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL, "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
              "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED, "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}


def python_ort(onnx_path, x: np.ndarray, level=ort.GraphOptimizationLevel.ORT_ENABLE_ALL) -> np.ndarray:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.graph_optimization_level = level
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


@pytest.fixture(scope="module")
def torch_models(trained):
    """dataset -> {"deeplog": module, "mscred": module} from the checkpoints the artifacts came from."""
    models = {}
    for name, result in trained.items():
        models[name] = {"deeplog": checkpoint.load(result.deeplog_checkpoint, "deeplog")[0].eval(),
                        "mscred": checkpoint.load(result.mscred_checkpoint, "mscred")[0].eval()}
    return models


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("model", ["deeplog", "mscred"])
def test_engine_matches_python_ort_and_torch(engine, model_dir, torch_models, dataset, strategy, model, tmp_path):
    directory = model_dir(dataset, strategy)
    onnx_path = directory / f"{model}.onnx"
    meta = json.loads((directory / f"{model}.onnx.meta.json").read_text())
    rng = np.random.default_rng(sum(map(ord, dataset + strategy + model)))
    inputs = deeplog_inputs(meta, rng) if model == "deeplog" else mscred_inputs(meta, rng)
    for i, x in enumerate(inputs):
        src, dst = tmp_path / f"x{i}.npy", tmp_path / f"y{i}.npy"
        np.save(src, x)
        result = engine.run("--model", onnx_path, "--input", src, "--output", dst)
        assert result.code == 0 and result.stdout == b""
        got = np.load(dst)

        expected_ort = python_ort(onnx_path, x)
        assert got.dtype == expected_ort.dtype == np.float32
        assert got.shape == expected_ort.shape
        np.testing.assert_allclose(got, expected_ort, rtol=0, atol=ORT_ATOL,
                                   err_msg=f"engine vs Python ONNX Runtime at input shape {x.shape}")

        with torch.no_grad():
            expected_torch = torch_models[dataset][model](torch.from_numpy(x)).numpy()
        verdict = compare(expected_torch, got, DEFAULT_TOLERANCE, name=f"{model} {list(x.shape)}")
        assert verdict, verdict.describe()


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("strategy", ["legacy", "dynamo"])
@pytest.mark.parametrize("model", ["deeplog", "mscred"])
def test_each_opt_level_matches_python_ort_at_that_level(engine, model_dir, dataset, strategy, model, tmp_path):
    """--opt-level L gives Python ONNX Runtime's output under graph_optimization_level L (within 1e-6),
    and the level really reaches the session: the engine's outputs at two levels are identical
    exactly when Python's are (MSCRED's differ in the last bits between "all" and the lower levels)."""
    onnx_path = model_dir(dataset, strategy) / f"{model}.onnx"
    meta = json.loads(onnx_path.with_name(f"{model}.onnx.meta.json").read_text())
    rng = np.random.default_rng(7)
    x = deeplog_inputs(meta, rng)[2] if model == "deeplog" else mscred_inputs(meta, rng)[1]
    np.save(tmp_path / "x.npy", x)
    got, expected = {}, {}
    for name, level in OPT_LEVELS.items():
        result = engine.run("--model", onnx_path, "--input", tmp_path / "x.npy", "--output", tmp_path / f"{name}.npy",
                            "--opt-level", name)
        assert result.code == 0
        got[name], expected[name] = np.load(tmp_path / f"{name}.npy"), python_ort(onnx_path, x, level)
        np.testing.assert_allclose(got[name], expected[name], rtol=0, atol=ORT_ATOL, err_msg=f"--opt-level {name}")
    for a, b in combinations(OPT_LEVELS, 2):
        assert np.array_equal(got[a], got[b]) == np.array_equal(expected[a], expected[b]), \
            f"levels {a} and {b}: the engine's outputs {'differ' if np.array_equal(expected[a], expected[b]) else 'agree'}" \
            " but Python's do not"


@pytest.mark.parametrize("model", ["deeplog", "mscred"])
def test_input_output_pairs_run_through_one_session_as_single_runs_do(engine, model_dir, model, tmp_path):
    """--input/--output repeat: the n-th input to the n-th output, each equal to a run of its own."""
    onnx_path = model_dir("HDFS", "dynamo") / f"{model}.onnx"
    meta = json.loads(onnx_path.with_name(f"{model}.onnx.meta.json").read_text())
    rng = np.random.default_rng(11)
    inputs = deeplog_inputs(meta, rng) if model == "deeplog" else mscred_inputs(meta, rng)
    pairs = []
    for i, x in enumerate(inputs):
        np.save(tmp_path / f"x{i}.npy", x)
        pairs += ["--input", tmp_path / f"x{i}.npy", "--output", tmp_path / f"many{i}.npy"]
    assert engine.run("--model", onnx_path, *pairs, "--opt-level", "basic").code == 0
    for i, x in enumerate(inputs):
        engine.run("--model", onnx_path, "--input", tmp_path / f"x{i}.npy", "--output", tmp_path / f"one{i}.npy",
                   "--opt-level", "basic")
        assert np.array_equal(np.load(tmp_path / f"many{i}.npy"), np.load(tmp_path / f"one{i}.npy")), i
        np.testing.assert_allclose(np.load(tmp_path / f"many{i}.npy"),
                                   python_ort(onnx_path, x, OPT_LEVELS["basic"]), rtol=0, atol=ORT_ATOL)
    uneven = engine.run("--model", onnx_path, *pairs, "--input", tmp_path / "x0.npy")
    assert uneven.code == 2 and uneven.stderr == (
        "inference_engine: parity mode needs one --output per --input (see --help)")


def test_tensor_mode_output_is_a_plain_npy_v1(release_engine, hdfs_dir, tmp_path):
    x = np.zeros((2, 10), dtype=np.int64)
    np.save(tmp_path / "x.npy", x)
    release_engine.run("--model", hdfs_dir / "deeplog.onnx", "--input", tmp_path / "x.npy",
                       "--output", tmp_path / "y.npy")
    raw = (tmp_path / "y.npy").read_bytes()
    assert raw[:8] == b"\x93NUMPY\x01\x00"
    header_len = int.from_bytes(raw[8:10], "little")
    assert (10 + header_len) % 64 == 0 and raw[10 + header_len - 1:10 + header_len] == b"\n"
    assert "'fortran_order': False" in raw[10:10 + header_len].decode("latin-1")
    assert not list(tmp_path.glob("y.npy.tmp*")), "temporary output left behind"


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_tensor_mode_output_follows_the_umask(engine, hdfs_dir, tmp_path, umask, mode):
    """A new output, and one replacing an existing file, get 0666 less the umask (they were 0600)."""
    np.save(tmp_path / "x.npy", np.zeros((2, 10), np.int64))
    out = tmp_path / "y.npy"
    for _ in range(2):
        result = engine.run("--model", hdfs_dir / "deeplog.onnx", "--input", tmp_path / "x.npy", "--output", out,
                            preexec_fn=lambda: os.umask(umask))
        assert result.code == 0
        assert stat.S_IMODE(os.stat(out).st_mode) == mode
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npy", "y.npy"]


def test_tensor_mode_output_into_a_fifo_and_through_a_symlink(engine, hdfs_dir, tmp_path):
    """A FIFO is written in place (and stays a FIFO); a symlink to a regular file keeps being a link
    while the file it points to is replaced."""
    x = np.arange(20, dtype=np.int64).reshape(2, 10) % 7
    np.save(tmp_path / "x.npy", x)
    args = ("--model", hdfs_dir / "deeplog.onnx", "--input", tmp_path / "x.npy", "--output")
    assert engine.run(*args, tmp_path / "plain.npy").code == 0
    expected = (tmp_path / "plain.npy").read_bytes()

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    # Opened for reading first, so the engine's open for writing does not wait; the NPY (a few
    # hundred bytes) fits in the pipe's buffer until the engine is done.
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        assert engine.run(*args, fifo).code == 0
        chunks = []
        while chunk := os.read(reader, 1 << 16):
            chunks.append(chunk)
    finally:
        os.close(reader)
    received = b"".join(chunks)
    assert received == expected and stat.S_ISFIFO(os.lstat(fifo).st_mode)
    np.testing.assert_array_equal(np.load(io.BytesIO(received)), python_ort(hdfs_dir / "deeplog.onnx", x))

    (tmp_path / "target.npy").write_bytes(b"old")
    (tmp_path / "link.npy").symlink_to("target.npy")
    assert engine.run(*args, tmp_path / "link.npy").code == 0
    assert (tmp_path / "link.npy").is_symlink() and (tmp_path / "target.npy").read_bytes() == expected
    assert not list(tmp_path.glob("*.tmp*"))


def test_tensor_mode_through_the_wrapper_matches_python_ort(hdfs_dir):
    from harness.runtimes.engine import run_parity

    x = np.arange(30, dtype=np.int64).reshape(3, 10) % 5
    np.testing.assert_array_equal(run_parity(hdfs_dir / "deeplog.onnx", x), python_ort(hdfs_dir / "deeplog.onnx", x))
    meta = json.loads((hdfs_dir / "mscred.onnx.meta.json").read_text())
    signatures = mscred_inputs(meta, np.random.default_rng(3))[0]
    for name, level in OPT_LEVELS.items():
        np.testing.assert_array_equal(run_parity(hdfs_dir / "mscred.onnx", signatures, opt_level=name),
                                      python_ort(hdfs_dir / "mscred.onnx", signatures, level), err_msg=name)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_info_describes_model_dir(engine, model_dir, strategy):
    directory = model_dir("HDFS", strategy)
    meta = json.loads((directory / "deeplog.onnx.meta.json").read_text())
    mscred_meta = json.loads((directory / "mscred.onnx.meta.json").read_text())
    text = engine.run("--info", directory).stdout.decode()
    assert f"model {directory / 'deeplog.onnx'}" in text and f"model {directory / 'mscred.onnx'}" in text
    assert f"onnxruntime    {ort.__version__}" in text
    assert "input          sequences: int64 [" in text
    assert f"output         logits: float32 [" in text and f", {meta['vocab_size']}]" in text
    assert f"opset          {meta['opset']} (from" in text
    assert f"vocab_size={meta['vocab_size']} seq_len={meta['seq_len']} top_g={meta['top_g']}" in text
    assert f"header_fields={meta['header_fields']}" in text
    assert f"sensors={mscred_meta['sensors']} scales={mscred_meta['scales']} step={mscred_meta['step']}" in text
    # The nested records are printed as compact JSON, one line each.
    records = [l.split(None, 1) for l in text.splitlines() if l.startswith("  ")]
    for key in ("export", "versions", "model_config"):
        printed = [json.loads(value) for label, value in records if label == key]
        assert printed == [meta[key], mscred_meta[key]]
    assert f"templates      {meta['vocab_size']}" in text


def test_info_on_a_single_file_shows_symbolic_dims(release_engine, hdfs_dir):
    text = release_engine.run("--info", hdfs_dir / "deeplog.onnx").stdout.decode()
    sequences = next(l for l in text.splitlines() if "sequences:" in l)
    dims = sequences.split("[", 1)[1].rstrip("]").split(", ")
    assert len(dims) == 2 and not any(d.isdigit() for d in dims), f"batch and sequence should be symbolic: {sequences}"
