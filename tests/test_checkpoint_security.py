"""A checkpoint is a user's file: it is only ever read with torch's weights-only unpickler.

The crafted checkpoint below is laid out as torch.save lays out a file (``<name>/data.pkl``,
``<name>/version``, ``<name>/data/0``) and its pickle does two things in order:

1. it rebuilds a tensor and then applies the BUILD opcode to it with the state ``(False, None, None)``.
   torch's weights-only unpickler answers BUILD on a tensor with ``tensor.set_(*state)``, which
   raises **TypeError** (``set_() received an invalid combination of arguments``). The full
   unpickler calls ``Tensor.__setstate__`` instead, which takes a 3-tuple without complaint;
2. it calls ``os.system`` to create a marker file.

So a loader that treats TypeError as "this torch has no weights_only" and retries without it runs
the command. On torch >= 2.6 a call without ``weights_only`` is safe by default unless
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` is set, so each torch is tried with and without that variable.
The check runs in the oldest and the newest torch of the matrix (their cell venvs, built with uv as
the matrix builds them) and in the test suite's own.
"""

from __future__ import annotations

import json
import os
import pickle
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from converter import checkpoint
from converter.errors import AlogError

CELLS = ("torch-1.13.1", "torch-2.15.0")  # the oldest and the newest torch of matrix.toml


def _text(value: str) -> bytes:
    data = value.encode()
    return pickle.BINUNICODE + struct.pack("<I", len(data)) + data


def _global(module: str, name: str) -> bytes:
    return pickle.GLOBAL + f"{module}\n{name}\n".encode()


def crafted_pickle(command: str) -> bytes:
    """{"x": <tensor, then BUILD with (False, None, None)>, "y": os.system(command)}, opcode by opcode."""
    storage = (pickle.MARK + _text("storage") + _global("torch", "FloatStorage") + _text("0") + _text("cpu")
               + pickle.BININT1 + b"\x01" + pickle.TUPLE + pickle.BINPERSID)
    tensor = (_global("torch._utils", "_rebuild_tensor_v2") + pickle.MARK + storage
              + pickle.BININT1 + b"\x00"  # storage offset
              + pickle.BININT1 + b"\x01" + pickle.TUPLE1  # size (1,)
              + pickle.BININT1 + b"\x01" + pickle.TUPLE1  # stride (1,)
              + pickle.NEWFALSE  # requires_grad
              + _global("collections", "OrderedDict") + pickle.EMPTY_TUPLE + pickle.REDUCE  # backward hooks
              + pickle.TUPLE + pickle.REDUCE)
    build = pickle.NEWFALSE + pickle.NONE + pickle.NONE + pickle.TUPLE3 + pickle.BUILD
    payload = _global("os", "system") + _text(command) + pickle.TUPLE1 + pickle.REDUCE
    return (pickle.PROTO + b"\x02" + pickle.EMPTY_DICT + pickle.MARK
            + _text("x") + tensor + build + _text("y") + payload + pickle.SETITEMS + pickle.STOP)


def write_crafted_checkpoint(path: Path, marker: Path) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("crafted/data.pkl", crafted_pickle(f"touch '{marker}'"))
        archive.writestr("crafted/byteorder", "little")
        archive.writestr("crafted/data/0", struct.pack("<f", 1.0))
        archive.writestr("crafted/version", "3\n")
    return path


# Run inside the interpreter under test: what its safe and its full unpickler do with the file.
PROBE = """
import sys, torch
path = sys.argv[1]
try:
    torch.load(path, map_location="cpu", weights_only=True)
    print("safe: loaded")
except Exception as exc:
    print("safe:", type(exc).__name__)
torch.load(path, map_location="cpu", weights_only=False)
print("torch:", torch.__version__)
"""


@pytest.fixture(scope="module", params=("this-venv", *CELLS))
def interpreter(request) -> tuple[str, str]:
    """(python executable, torch version it must have): the suite's own, then each cell's venv."""
    if request.param == "this-venv":
        return sys.executable, torch.__version__
    from harness.envs import venvs as envs
    from harness.config import matrix

    cell = matrix.load_matrix().cell(request.param)
    return str(envs.ensure_env(cell).python), cell.torch


def test_crafted_checkpoint_cannot_run_code(interpreter, tmp_path):
    python, version = interpreter
    env = {k: v for k, v in os.environ.items() if not k.startswith("TORCH_FORCE_")}

    # The file is a live exploit on this torch: the safe unpickler raises TypeError, the full one runs it.
    control = tmp_path / "control.marker"
    probe = subprocess.run([python, "-c", PROBE, str(write_crafted_checkpoint(tmp_path / "probe.pth", control))],
                           capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert probe.returncode == 0, probe.stderr
    assert "safe: TypeError" in probe.stdout.splitlines(), probe.stdout
    ran = [line.split()[1] for line in probe.stdout.splitlines() if line.startswith("torch: ")]
    assert [v.split("+")[0] for v in ran] == [version.split("+")[0]], probe.stdout  # the torch under test
    assert control.exists()

    marker = tmp_path / "payload.marker"
    crafted = write_crafted_checkpoint(tmp_path / "crafted.pth", marker)
    (tmp_path / "vocab.json").write_text(json.dumps({"a <*>": 0, "b <*>": 1}))
    for forced in ("", "1"):
        run_env = dict(env, TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=forced) if forced else env
        done = subprocess.run(
            [python, "-m", "converter.cli", "convert-onnx", "--deeplog-model", str(crafted),
             "--vocab", str(tmp_path / "vocab.json"), "--output-dir", str(tmp_path / "out")],
            capture_output=True, text=True, env=run_env, cwd=tmp_path, timeout=600)
        assert not marker.exists(), f"the checkpoint ran its payload (TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD={forced!r})"
        assert done.returncode == 1, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
        assert lines[0].startswith("alog-detect convert-onnx: error:") and "crafted.pth" in lines[0], lines[0]
        assert "TypeError" in lines[0], lines[0]  # refused as unreadable, not retried
        assert not (tmp_path / "out" / "deeplog.onnx").exists()


def test_the_decision_comes_from_the_signature():
    assert checkpoint.takes_weights_only(torch.load)

    def load_before_1_13(f, map_location=None, pickle_module=pickle, **pickle_load_args):  # torch 1.12's
        raise AssertionError("never called")

    assert not checkpoint.takes_weights_only(load_before_1_13)  # **kwargs would hand the keyword to pickle


def test_a_torch_without_weights_only_refuses_the_file(tmp_path):
    """A torch.load with torch 1.12's signature that would unpickle fully is never called."""
    marker = tmp_path / "payload.marker"
    crafted = write_crafted_checkpoint(tmp_path / "crafted.pth", marker)
    calls = []

    def full_unpickling_load(f, map_location=None, pickle_module=pickle, **pickle_load_args):
        calls.append(f)
        return torch.load(f, map_location=map_location, weights_only=False)  # what such a torch does

    with pytest.raises(AlogError, match=r"crafted\.pth safely: .*has no weights_only"):
        checkpoint.torch_load_safely(crafted, load=full_unpickling_load)
    assert calls == [] and not marker.exists()
