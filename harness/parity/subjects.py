"""A subject of the parity kit: a PyTorch model and the ONNX file exported from it, run side by side."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from converter import artifacts, checkpoint, metafile
from harness.parity.sessions import SessionCache


@dataclass
class Subject:
    label: str  # e.g. "HDFS/dynamo" or "deeplog-v30-h64-l2-e16/legacy"
    model_type: str  # deeplog | mscred
    model: torch.nn.Module
    onnx_path: Path
    checkpoint: Path | None = None  # the PyTorch weights, for the repro bundle
    input_name: str = ""
    output_name: str = ""
    exporter: str | None = None  # from the meta's export record, when there is one
    made_by_torch: str | None = None
    # A hub model: what rebuilds its PyTorch side (harness.parity.hubs.HubArtifacts.describe); its weights,
    # ``checkpoint``, are then a state_dict for that entry rather than an alog-detect checkpoint.
    hub: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.onnx_path = Path(self.onnx_path)
        if not self.input_name:
            self.input_name = artifacts.DEEPLOG_INPUT if self.model_type == "deeplog" else artifacts.MSCRED_INPUT
        if not self.output_name:
            self.output_name = artifacts.DEEPLOG_OUTPUT if self.model_type == "deeplog" else artifacts.MSCRED_OUTPUT
        self.model.eval()

    def torch_output(self, x: np.ndarray) -> np.ndarray:
        # inference_mode: no_grad without version-counter bookkeeping (torch >= 1.9, every torch we support)
        with torch.inference_mode():
            return self.model(torch.from_numpy(np.ascontiguousarray(x))).numpy()

    def ort_output(self, x: np.ndarray, sessions: SessionCache) -> np.ndarray:
        session = sessions.get(self.onnx_path)
        return session.run([self.output_name], {self.input_name: np.ascontiguousarray(x)})[0]

    def describe(self) -> dict[str, Any]:
        return {"label": self.label, "model_type": self.model_type, "onnx": str(self.onnx_path),
                "checkpoint": str(self.checkpoint) if self.checkpoint else None, "exporter": self.exporter,
                "made_by_torch": self.made_by_torch, "hub": self.hub}


def read_meta(onnx_path: str | Path) -> dict[str, Any]:
    meta_path = artifacts.meta_path(Path(onnx_path))
    if not meta_path.is_file():
        return {}
    return metafile.load(meta_path)  # the engine's contract: duplicate keys and bad types refused alike


def subject_from_files(label: str, model_type: str, checkpoint_path: str | Path, onnx_path: str | Path) -> Subject:
    """A subject from a checkpoint and the ONNX file converted from it (the meta says who exported it)."""
    model, _ = checkpoint.load(checkpoint_path, model_type)
    meta = read_meta(onnx_path)
    export = meta.get("export") or {}
    return Subject(label, model_type, model, Path(onnx_path), Path(checkpoint_path),
                   meta.get("input_name", ""), meta.get("output_name", ""), export.get("exporter"),
                   (meta.get("versions") or {}).get("torch"))
