"""The artifacts the cells kept (``reports/artifacts/<cell>/<strategy>/<model>.onnx``), each with the golden
cases it was checked on and what its own cell's PyTorch gave on them; and, in the orchestrator's
environment, what onnx says of each file (the advisory ``onnx_checker`` record)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class KeptArtifact:
    cell: str
    strategy: str
    model: str
    onnx: Path

    @property
    def key(self) -> str:
        return f"{self.cell}/{self.strategy}/{self.model}"

    @property
    def golden(self) -> Path:
        """The golden cases (inputs and the reference PyTorch's outputs) it was checked on."""
        return self.onnx.with_name(f"{self.model}.golden.npz")

    @property
    def torch_outputs(self) -> Path:
        """What its own cell's PyTorch gave on those cases."""
        return self.onnx.with_name(f"{self.model}.torch.npz")

    def sha256(self) -> str:
        return hashlib.sha256(self.onnx.read_bytes()).hexdigest()


def discover(root: Path) -> list[KeptArtifact]:
    """Every kept artifact that has its golden cases beside it, in cell, strategy, model order."""
    found = []
    for onnx in sorted(Path(root).glob("*/*/*.onnx")):
        model = onnx.stem
        if onnx.with_name(f"{model}.golden.npz").is_file():  # a model of the matrix: the cell put its cases beside it
            found.append(KeptArtifact(onnx.parent.parent.name, onnx.parent.name, model, onnx))
    return found


def split_artifacts(matrix, root: Path) -> tuple[list[KeptArtifact], list[str]]:
    """(the kept artifacts of the matrix's cells and models, the keys of the others): a cell's or model's files
    that matrix.toml no longer has are not judged."""
    judged, foreign = [], []
    for artifact in discover(root):
        if matrix.judges(artifact.cell, artifact.model):
            judged.append(artifact)
        else:
            foreign.append(artifact.key)
    return judged, foreign


def graph_digest(proto) -> str:
    """The file's digest but for its producer name and version: what tells exports apart whose graphs ONNX Runtime
    runs alike (TorchScript exports of one checkpoint by several torch releases often differ only there)."""
    import onnx

    bare = onnx.ModelProto()
    bare.CopyFrom(proto)
    bare.ClearField("producer_name")
    bare.ClearField("producer_version")
    return hashlib.sha256(bare.SerializeToString(deterministic=True)).hexdigest()


def describe(artifact: KeptArtifact) -> dict[str, Any]:
    """IR version, opsets, producer and the advisory onnx_checker verdict (full check, strict shape inference);
    a file onnx cannot parse is described as ``unreadable``, naming it (the report turns that into no evidence)."""
    import onnx
    from onnx import checker, shape_inference

    from converter.errors import describe as say

    info: dict[str, Any] = {"key": artifact.key, "cell": artifact.cell, "strategy": artifact.strategy,
                            "model": artifact.model, "sha256": artifact.sha256()}
    cases = [path for path in (artifact.golden, artifact.torch_outputs) if path.is_file()]
    broken = next(filter(None, map(unreadable_arrays, cases)), None)
    if broken:
        info["unreadable"] = broken
    try:
        proto = onnx.load(str(artifact.onnx))
    except Exception as exc:  # noqa: BLE001 - a corrupt or truncated file: named in its record, the stage goes on
        why = f"{artifact.onnx} cannot be read as ONNX ({say(exc)})"
        return {**info, "graph_sha256": None, "ir_version": None, "opsets": {}, "producer": None, "unreadable": why,
                "onnx_checker": {"status": "fail", "error": why, "onnx": onnx.__version__}}
    info.update({
        "graph_sha256": graph_digest(proto), "ir_version": proto.ir_version,
        "opsets": {o.domain or "ai.onnx": o.version for o in proto.opset_import},
        "producer": f"{proto.producer_name} {proto.producer_version}".strip(),
    })
    try:
        checker.check_model(proto, full_check=True)
        shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)
        info["onnx_checker"] = {"status": "pass", "error": None, "onnx": onnx.__version__}
    except Exception as exc:  # noqa: BLE001 - advisory: what onnx says is recorded, whatever it raises
        info["onnx_checker"] = {"status": "fail", "error": say(exc), "onnx": onnx.__version__}
    return info


def unreadable_arrays(path: Path) -> str | None:
    """Why a kept .npz (the golden cases, the cell's PyTorch outputs) cannot be read whole, or None."""
    import numpy as np

    from converter.errors import describe as say

    try:
        with np.load(path) as data:
            for name in data.files:
                data[name]
    except Exception as exc:  # noqa: BLE001 - truncated, not a zip, a bad member: named, whatever numpy raises
        return f"{path} cannot be read ({say(exc)})"
    return None
