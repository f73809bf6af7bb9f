"""Reproduction bundles: the artifact, its weights, the failing input and both outputs, in one folder.

A bundle replays with the one command it holds (``bundle.json["command"]``, also in its README.md):
``python -m harness.parity replay BUNDLE`` exits 1 while the failure reproduces and 0 once it is gone.
"""

from __future__ import annotations

import re
import shlex
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from converter import artifacts, atomic, versions
from converter.compare import Tolerance
from harness.parity.subjects import Subject

BUNDLE_FORMAT = "alog-parity-repro"
BUNDLE_FILE = "bundle.json"


def bundle_replay_command(bundle: str | Path) -> str:
    """The command that replays ``bundle`` (what the bundle records and the report shows)."""
    return f"python -m harness.parity replay {shlex.quote(str(Path(bundle).resolve()))}"


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:150] or "bundle"


REPLAY_README = """# Parity reproduction bundle

{message}

- `model.onnx`: the artifact under test{meta_line}
- `model.pth`: the PyTorch weights ({weights_kind}){pth_note}
- `input.npy`: the failing input (`{input_name}`, shape {input_shape}, {input_dtype})
- `expected.npy`: PyTorch's `{output_name}`; `actual.npy`: ONNX Runtime's
- `bundle.json`: tolerance, figures and the environment that failed

Replay (exit 1 while the failure reproduces, 0 once it is gone):

    {command}

Made with torch {torch}, onnxruntime {onnxruntime}, by the test `{test}`.
"""


def write_bundle(root: str | Path, name: str, subject: Subject, x: np.ndarray, expected: np.ndarray,
                 actual: np.ndarray | None, tolerance: Tolerance, message: str, kind: str = "numeric",
                 details: dict[str, Any] | None = None, test: str = "") -> Path:
    """Write a bundle to ``root/name`` atomically: built in a temporary folder, then renamed into place."""
    target = Path(root) / _safe_name(name)
    with atomic.publishing_folder(target) as work:
        shutil.copyfile(subject.onnx_path, work / "model.onnx")
        meta = artifacts.meta_path(subject.onnx_path)
        if meta.is_file():
            shutil.copyfile(meta, work / "model.onnx.meta.json")
        if subject.checkpoint is not None:
            shutil.copyfile(subject.checkpoint, work / "model.pth")
        np.save(work / "input.npy", x)
        np.save(work / "expected.npy", expected)
        if actual is not None:
            np.save(work / "actual.npy", actual)
        env = versions.environment()
        document = {
            "format": BUNDLE_FORMAT, "format_version": 1, "kind": kind, "test": test,
            "model_type": subject.model_type, "input_name": subject.input_name, "output_name": subject.output_name,
            "subject": subject.describe(), "hub": subject.hub, "tolerance": asdict(tolerance), "message": message,
            "details": details or {}, "environment": env,
            "command": bundle_replay_command(target),
        }
        atomic.write_json(work / BUNDLE_FILE, document)
        atomic.write_text(work / "README.md", REPLAY_README.format(
            message=message, command=bundle_replay_command(target), input_name=subject.input_name,
            output_name=subject.output_name,
            input_shape=list(x.shape), input_dtype=x.dtype, torch=env.get("torch"),
            onnxruntime=env.get("onnxruntime"), test=test or "-",
            meta_line=" (and its meta)" if meta.is_file() else "",
            weights_kind=(f"a state_dict of hub entry {subject.hub['entry']} in {subject.hub['hub']}" if subject.hub
                          else "alog-detect checkpoint"),
            pth_note="" if subject.checkpoint else " -- absent: replay compares with expected.npy"))
    return target
