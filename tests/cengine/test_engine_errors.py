"""Bad input never crashes the engine: each case gets one stderr line and its documented exit code
(2 usage, 3 bad input, 4 ONNX Runtime, 5 output), under the release and the ASan+UBSan builds.
``Engine.run`` (conftest.py) also fails on signals, exit codes >= 128 and sanitizer reports."""

from __future__ import annotations

import json
import os
import resource
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

USAGE, INPUT, RUNTIME, OUTPUT = 2, 3, 4, 5


def expect(result, code: int, *fragments: str) -> None:
    assert result.code == code, f"exit {result.code}, expected {code}: {result.stderr}"
    for fragment in fragments:
        assert fragment in result.stderr, f"{fragment!r} not in {result.stderr!r}"


# --- command line -----------------------------------------------------------------------------------

@pytest.mark.parametrize("args, fragment", [
    ([], "missing MODEL_DIR"),
    (["--frobnicate"], "unknown option --frobnicate"),
    (["-x"], "unknown option -x"),
    (["DIR", "--top-g", "abc"], "--top-g must be an integer"),
    (["DIR", "--top-g", "-1"], "--top-g must be an integer"),
    (["DIR", "--format", "xml"], "--format must be jsonl or text"),
    (["DIR", "--batch", "0"], "--batch must be an integer"),
    (["DIR", "--threads", "0"], "--threads must be an integer"),
    (["DIR", "--opt-level", "fast"], "--opt-level must be disabled, basic, extended or all, got 'fast'"),
    (["--model", "m.onnx", "--input", "x.npy", "--output", "y.npy", "--opt-level", "99"], "--opt-level must be"),
    (["DIR", "--log"], "option --log needs a value"),
    (["DIR", "OTHER"], "unexpected argument OTHER"),
    (["DIR", "--log", "a", "--log", "b"], "given twice"),
    (["--model", "m.onnx", "--input", "x.npy"], "needs --model, --input and --output"),
    (["--info", "a", "--log", "b"], "--info takes only a path"),
    (["DIR", "--bench", "10", "--log", "x"], "--bench takes no --log"),
    (["DIR", "--bench-match", "x.log", "--log", "y"], "--bench-match takes only MODEL_DIR and LOG"),
    (["--info", "DIR", "--bench-match", "x.log"], "--info takes only a path"),
])
def test_usage_errors(engine, args, fragment):
    expect(engine.run(*args, ort_lib=False), USAGE, fragment, "(see --help)")


def test_help_and_version(release_engine):
    result = release_engine.run("--help", ort_lib=False)
    assert result.code == 0 and b"exit codes: 0 ok, 2 usage error, 3 bad input" in result.stdout
    assert b"C API 21" in release_engine.run("--version", ort_lib=False).stdout


# --- ONNX Runtime library -----------------------------------------------------------------------------

FAKE_OLD_ORT = r"""
#include <stddef.h>
#include <stdint.h>
typedef struct { const void *(*GetApi)(uint32_t); const char *(*GetVersionString)(void); } Base;
static const void *get_api(uint32_t v) { (void)v; return NULL; }  /* an older runtime: no API 21 */
static const char *version(void) { return "1.20.0"; }
static const Base base = {get_api, version};
const Base *OrtGetApiBase(void) { return &base; }
"""


@pytest.fixture(scope="module")
def fake_old_ort(tmp_path_factory) -> Path:
    """A library exporting OrtGetApiBase whose GetApi(21) returns NULL, as ONNX Runtime 1.20 does."""
    work = tmp_path_factory.mktemp("fake-ort")
    (work / "fake.c").write_text(FAKE_OLD_ORT)
    subprocess.run(["cc", "-shared", "-fPIC", "-o", work / "libonnxruntime.so.1.20.0", work / "fake.c"], check=True)
    return work / "libonnxruntime.so.1.20.0"


def test_library_too_old(engine, hdfs_dir, fake_old_ort):
    result = engine.run("--info", hdfs_dir, "--ort-lib", fake_old_ort, ort_lib=False)
    expect(result, RUNTIME, "ONNX Runtime 1.20.0", "C API version 21", ">= 1.21")


def test_library_missing_or_foreign(engine, hdfs_dir, tmp_path):
    expect(engine.run("--info", hdfs_dir, "--ort-lib", tmp_path / "nope.so", ort_lib=False), RUNTIME,
           "cannot load ONNX Runtime library")
    libm = next(p for p in ("/lib/x86_64-linux-gnu/libm.so.6", "/usr/lib/x86_64-linux-gnu/libm.so.6",
                            "/lib64/libm.so.6") if Path(p).exists())
    expect(engine.run("--info", hdfs_dir, "--ort-lib", libm, ort_lib=False), RUNTIME, "no OrtGetApiBase")


def test_library_from_env_and_from_python(engine, hdfs_dir, ort_lib):
    assert engine.run("--info", hdfs_dir, ort_lib=False, env={"ORT_LIB": str(ort_lib)}).code == 0
    # Neither flag nor env: the engine asks the python3 on PATH (this test's interpreter first).
    env = {"ORT_LIB": "", "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    text = engine.run("--info", hdfs_dir, ort_lib=False, env=env).stdout.decode()
    assert str(ort_lib.parent) in text


# --- model directories ----------------------------------------------------------------------------------

def write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj), encoding="utf-8")


def tamper_meta(directory: Path, **changes) -> None:
    path = directory / "deeplog.onnx.meta.json"
    meta = json.loads(path.read_text())
    for key, value in changes.items():
        if value is None:
            meta.pop(key, None)
        else:
            meta[key] = value
    write_json(path, meta)


def vocab_of(directory: Path) -> dict:
    return json.loads((directory / "vocab.json").read_text())


def then(*_effects_and_result):
    """Run side effects (already evaluated as arguments), return the last value: for one-line cases."""
    return _effects_and_result[-1]


def grown_vocab(d: Path) -> dict:
    vocab = vocab_of(d)
    return {**vocab, str(len(vocab)): "an extra template"}


ONNX = "deeplog.onnx"
META = "deeplog.onnx.meta.json"
MODEL_CASES = {
    "no such dir": (lambda d: d / "missing", "does not exist"),
    "dir is a file": (lambda d: d / "vocab.json", "does not exist or is not a directory"),
    "no deeplog.onnx": (lambda d: then((d / ONNX).unlink(), d), "cannot open model"),
    "empty onnx": (lambda d: then((d / ONNX).write_bytes(b""), d), "is empty"),
    "truncated onnx": (lambda d: then((d / ONNX).write_bytes((d / ONNX).read_bytes()[:5000]), d), "cannot load model"),
    "garbage onnx": (lambda d: then((d / ONNX).write_bytes(os.urandom(4096)), d), "cannot load model"),
    "no meta": (lambda d: then((d / META).unlink(), d), "cannot open"),
    "meta not json": (lambda d: then((d / META).write_text("{nope"), d), "not valid JSON"),
    "meta is a list": (lambda d: then(write_json(d / META, [1]), d), "expected a JSON object"),
    "meta version 2": (lambda d: then(tamper_meta(d, format_version=2), d), "format_version 2 is not supported"),
    "meta without seq_len": (lambda d: then(tamper_meta(d, seq_len=None), d), "missing \"seq_len\""),
    "meta seq_len text": (lambda d: then(tamper_meta(d, seq_len="ten"), d), "\"seq_len\" must be an integer"),
    "meta seq_len fraction": (lambda d: then(tamper_meta(d, seq_len=2.5), d), "\"seq_len\" must be an integer"),
    "meta huge vocab_size": (lambda d: then(tamper_meta(d, vocab_size=1e300), d), "\"vocab_size\" must be an integer"),
    "meta of mscred": (lambda d: then(tamper_meta(d, model_type="mscred"), d), "expected \"deeplog\""),
    "meta wrong input name": (lambda d: then(tamper_meta(d, input_name="tokens"), d), "no input named \"tokens\""),
    "no vocab": (lambda d: then((d / "vocab.json").unlink(), d), "cannot open"),
    "vocab not json": (lambda d: then((d / "vocab.json").write_bytes(b"\x00\xff"), d), "not valid JSON"),
    "training vocab": (lambda d: then(write_json(d / "vocab.json", {t: int(i) for i, t in vocab_of(d).items()}), d),
                       "is not an index"),
    "vocab with a gap": (lambda d: then(write_json(d / "vocab.json", {str(int(i) + (int(i) > 0)): t
                                                                       for i, t in vocab_of(d).items()}), d),
                         "is not an index"),
    "vocab leading zero": (lambda d: then(write_json(d / "vocab.json", {("01" if i == "1" else i): t
                                                                         for i, t in vocab_of(d).items()}), d),
                           "is not an index"),
    "vocab value not text": (lambda d: then(write_json(d / "vocab.json", {**vocab_of(d), "0": 7}), d), "not a string"),
    "vocab key with a NUL": (lambda d: then(write_json(d / "vocab.json", {("0\x00" if i == "0" else i): t
                                                                          for i, t in vocab_of(d).items()}), d),
                             "is not an index"),
    "vocab not utf-8": (lambda d: then((d / "vocab.json").write_bytes(
        (d / "vocab.json").read_bytes().replace(b'"0": "', b'"0": "\xff', 1)), d), "not valid UTF-8"),
    "vocab longer than meta": (lambda d: then(write_json(d / "vocab.json", grown_vocab(d)), d),
                               "but the metadata says vocab_size"),
    "vocab and meta larger than the model": (
        lambda d: then(tamper_meta(d, vocab_size=len(grown_vocab(d))), write_json(d / "vocab.json", grown_vocab(d)), d),
        "logits but the vocab has"),
}


@pytest.mark.parametrize("case", sorted(MODEL_CASES))
def test_bad_model_dirs(engine, copy_dir, loghub, case):
    damage, fragment = MODEL_CASES[case]
    directory = damage(copy_dir())
    expect(engine.run(directory, "--log", loghub / "HDFS_2k.log"), INPUT, fragment)


def test_bad_log_paths(engine, hdfs_dir, tmp_path):
    expect(engine.run(hdfs_dir, "--log", tmp_path / "missing.log"), INPUT, "cannot open log")
    expect(engine.run(hdfs_dir, "--log", tmp_path), INPUT, "is a directory")


# --- reading the log ---------------------------------------------------------------------------------------

def test_read_error_is_bad_input_with_its_line_number(engine, hdfs_dir, tmp_path):
    """A standard input that cannot be read (a directory's descriptor: read() fails with EISDIR) is
    exit 3 naming the line, not an empty successful run."""
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        result = engine.run(hdfs_dir, "--log", "-", stdin=fd)
    finally:
        os.close(fd)
    expect(result, INPUT, "cannot read the log at line 1: Is a directory")
    assert result.stdout == b""


def limit_address_space(limit: int):
    return lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


@pytest.fixture(scope="module")
def address_space_floor(release_engine, hdfs_dir, loghub) -> int:
    """The smallest RLIMIT_AS (to 16 MiB) under which the release engine runs a normal detection."""
    cmd = [str(release_engine.path), str(hdfs_dir), "--log", str(loghub / "HDFS_2k.log"),
           "--ort-lib", str(release_engine.ort_lib)]

    def runs(limit: int) -> bool:
        return subprocess.run(cmd, capture_output=True, preexec_fn=limit_address_space(limit)).returncode == 0

    low, high = 16 << 20, 8 << 30
    assert runs(high), "the engine does not run under an 8 GiB address space limit"
    while high - low > 16 << 20:
        middle = (low + high) // 2
        low, high = (low, middle) if runs(middle) else (middle, high)
    return high


@pytest.mark.parametrize("size, detail", [(1 << 30, "(the line is longer than"),
                                          (64 << 20, "(no room to clean its ")])
def test_a_line_too_long_for_memory_is_bad_input(release_engine, hdfs_dir, loghub, tmp_path, address_space_floor,
                                                 size, detail):
    """Line 11 holds a real header and then `size` NUL bytes, under an address space limit 256 MiB
    above what a normal run needs: a 1 GiB line cannot be buffered, a 64 MiB one is buffered but
    cannot be cleaned (3 bytes per input byte). Both are exit 3 naming line 11, not a silent end
    of input (exit 0 with the first ten verdicts) nor an "out of memory" runtime failure.
    (Release build only: the sanitizers reserve terabytes of address space.)"""
    real = (loghub / "HDFS_2k.log").read_bytes().split(b"\n")
    log = tmp_path / "huge.log"
    with open(log, "wb") as f:
        f.write(b"\n".join(real[:10]) + b"\n" + b" ".join(real[10].split()[:5]) + b" ")
        f.truncate(f.tell() + size)  # NUL bytes, as a sparse file: no disk space used
        f.seek(0, os.SEEK_END)
        f.write(b"\n" + real[11] + b"\n")
    result = release_engine.run(hdfs_dir, "--log", log,
                                preexec_fn=limit_address_space(address_space_floor + (256 << 20)))
    expect(result, INPUT, "cannot read the log at line 11: Cannot allocate memory", detail)


def test_output_that_cannot_be_written(engine, hdfs_dir, loghub):
    with open("/dev/full", "wb") as full:
        done = subprocess.run([str(engine.path), str(hdfs_dir), "--log", str(loghub / "HDFS_2k.log"),
                               "--ort-lib", str(engine.ort_lib)], stdout=full, stderr=subprocess.PIPE,
                              env={**os.environ, **engine.env})
    stderr = done.stderr.decode()
    assert done.returncode == OUTPUT and stderr.count("\n") == 1 and "cannot write the output" in stderr, stderr


# --- NPY inputs in parity mode ---------------------------------------------------------------------------

def npy_bytes(header: str, data: bytes = b"", version: bytes = b"\x01\x00") -> bytes:
    body = header.encode("latin-1")
    body += b" " * ((64 - (10 + len(body) + 1) % 64) % 64) + b"\n"
    return b"\x93NUMPY" + version + len(body).to_bytes(2, "little") + body + data


GOOD_DATA = np.zeros((2, 10), np.int64).tobytes()
NPY_CASES = {
    "float32 for int64": (lambda p: np.save(p, np.zeros((2, 10), np.float32)), "holds float32", INPUT),
    "int32 for int64": (lambda p: np.save(p, np.zeros((2, 10), np.int32)), "holds int32", INPUT),
    "rank 1": (lambda p: np.save(p, np.zeros(10, np.int64)), "has rank 1", INPUT),
    "rank 3": (lambda p: np.save(p, np.zeros((1, 2, 10), np.int64)), "has rank 3", INPUT),
    "fortran order": (lambda p: np.save(p, np.asfortranarray(np.zeros((2, 10), np.int64))), "Fortran", INPUT),
    "big endian": (lambda p: np.save(p, np.zeros((2, 10), ">i8")), "unsupported NPY dtype '>i8'", INPUT),
    "empty file": (lambda p: p.write_bytes(b""), "bad magic", INPUT),
    "bad magic": (lambda p: p.write_bytes(b"PK\x03\x04" + bytes(100)), "bad magic", INPUT),
    "version 9": (lambda p: p.write_bytes(npy_bytes("{}", version=b"\x09\x00")), "unsupported NPY version 9.0",
                  INPUT),
    "header longer than file": (lambda p: p.write_bytes(b"\x93NUMPY\x01\x00\xff\xff{'descr'"), "truncated", INPUT),
    "v2 header of 4 GiB": (lambda p: p.write_bytes(b"\x93NUMPY\x02\x00\xff\xff\xff\xff{}"), "too large", INPUT),
    "not a dict": (lambda p: p.write_bytes(npy_bytes("[1, 2]", GOOD_DATA)), "malformed NPY header", INPUT),
    "unknown key": (lambda p: p.write_bytes(npy_bytes(
        "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 10), 'x': 1, }", GOOD_DATA)),
        "malformed NPY header", INPUT),
    "shape not a tuple": (lambda p: p.write_bytes(npy_bytes(
        "{'descr': '<i8', 'fortran_order': False, 'shape': (20), }", GOOD_DATA)), "malformed NPY header", INPUT),
    "negative dim": (lambda p: p.write_bytes(npy_bytes(
        "{'descr': '<i8', 'fortran_order': False, 'shape': (-2, 10), }", GOOD_DATA)), "malformed NPY header", INPUT),
    "absurd shape": (lambda p: p.write_bytes(npy_bytes(
        "{'descr': '<i8', 'fortran_order': False, 'shape': (1000000000000, 10), }", GOOD_DATA)),
        "header promises 80000000000000 data bytes", INPUT),
    "overflowing shape": (lambda p: p.write_bytes(npy_bytes(
        "{'descr': '<i8', 'fortran_order': False, 'shape': (4611686018427387904, 10), }", GOOD_DATA)),
        "too large", INPUT),
    "dim beyond int64": (lambda p: p.write_bytes(npy_bytes(
        "{'descr': '<i8', 'fortran_order': False, 'shape': (99999999999999999999, 10), }", GOOD_DATA)),
        "malformed NPY header", INPUT),
    "truncated data": (lambda p: p.write_bytes(npy_bytes(
        "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 10), }", GOOD_DATA[:-1])), "header promises", INPUT),
    "trailing bytes": (lambda p: p.write_bytes(npy_bytes(
        "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 10), }", GOOD_DATA + b"x")), "header promises", INPUT),
    "missing file": (lambda p: None, "cannot open", INPUT),
}


@pytest.mark.parametrize("case", sorted(NPY_CASES))
def test_bad_npy_inputs(engine, hdfs_dir, tmp_path, case):
    make, fragment, code = NPY_CASES[case]
    src = tmp_path / "x.npy"
    make(src)
    result = engine.run("--model", hdfs_dir / "deeplog.onnx", "--input", src, "--output", tmp_path / "y.npy")
    expect(result, code, fragment)
    assert not (tmp_path / "y.npy").exists() and not list(tmp_path.glob("y.npy.tmp*"))


def test_npy_fixed_dims_must_match(engine, hdfs_dir, tmp_path):
    meta = json.loads((hdfs_dir / "mscred.onnx.meta.json").read_text())
    n = meta["sensors"]
    np.save(tmp_path / "x.npy", np.zeros((1, meta["step"], meta["scales"], n + 1, n + 1), np.float32))
    result = engine.run("--model", hdfs_dir / "mscred.onnx", "--input", tmp_path / "x.npy",
                        "--output", tmp_path / "y.npy")
    expect(result, INPUT, f"is fixed to {n} there")


def test_tensor_mode_bad_model_and_unwritable_output(engine, hdfs_dir, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((2, 10), np.int64))
    (tmp_path / "bad.onnx").write_bytes(b"\x08\x07garbage")
    expect(engine.run("--model", tmp_path / "bad.onnx", "--input", tmp_path / "x.npy", "--output",
                      tmp_path / "y.npy"), INPUT, "cannot load model")
    expect(engine.run("--model", hdfs_dir / "deeplog.onnx", "--input", tmp_path / "x.npy", "--output",
                      tmp_path / "no" / "y.npy"), OUTPUT, "cannot create")


def test_tensor_mode_output_onto_a_device_is_written_in_place(engine, hdfs_dir, tmp_path):
    """--output naming a device (a private node of /dev/full's device numbers) is written in place:
    ENOSPC is exit 5 with one line, and the node stays a character device. Renaming a temporary
    file over it, as every output used to be written, replaced /dev/full itself with a regular file."""
    np.save(tmp_path / "x.npy", np.zeros((2, 10), np.int64))
    full = tmp_path / "full"
    try:
        os.mknod(full, stat.S_IFCHR | 0o666, os.makedev(1, 7))
    except PermissionError:
        pytest.skip("making a device node needs root")
    result = engine.run("--model", hdfs_dir / "deeplog.onnx", "--input", tmp_path / "x.npy", "--output", full)
    expect(result, OUTPUT, f"cannot write {full}: No space left on device")
    assert stat.S_ISCHR(os.lstat(full).st_mode), "the device node was replaced"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full", "x.npy"]


def test_info_errors(engine, tmp_path):
    expect(engine.run("--info", tmp_path), INPUT, "holds neither deeplog.onnx nor mscred.onnx")
    (tmp_path / "deeplog.onnx").write_bytes(b"")
    expect(engine.run("--info", tmp_path / "deeplog.onnx"), INPUT, "is empty")
    expect(engine.run("--info", tmp_path / "missing.onnx"), INPUT, "cannot open model")


def test_wrapper_raises_the_engine_line(hdfs_dir, tmp_path):
    from harness.runtimes.engine import EngineError, run_detect

    with pytest.raises(EngineError, match="cannot open log") as info:
        run_detect(hdfs_dir, tmp_path / "missing.log")
    assert info.value.returncode == INPUT
