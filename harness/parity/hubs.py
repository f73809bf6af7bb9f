"""A cell's hub models in the ``--artifacts DIR`` layout: ``DIR/hubs.json`` says, per model name, how its
hubconf.py builds it, the weights its artifacts were exported from, and the folder of each strategy's artifact.

The matrix's parity check writes it beside the reference checkpoints (``harness.checks.suite.artifact_set``);
the suite's plugin reads it, also when a person reruns the recorded command by hand. Paths are absolute as
written, or relative to the folder holding hubs.json (a set copied elsewhere keeps working).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from converter import atomic
from converter.artifacts import INTERFACES
from converter.errors import AlogError

if TYPE_CHECKING:
    from converter.hub import HubEntry
    from harness.config.models import ModelEntry

HUBS_FILE = "hubs.json"
HUBS_FORMAT = "alog-parity-hubs"

HUBS_LAYOUT = f"""\
  {HUBS_FILE}            optional: a team's hub models, per name: hub (folder with hubconf.py), entry, kwargs,
                       interface, window (next-template) or shape [step, scales, sensors] (signature-matrix),
                       weights (the state_dict the artifacts were exported from) and artifacts
                       {{strategy: folder holding <name>.onnx + meta}}; a set may hold only this file"""


@dataclass(frozen=True)
class HubArtifacts:
    """One hub model of the set: how to build it, the weights under test, and its artifact per strategy."""

    name: str
    interface: str
    hub: Path
    entry: str
    weights: Path
    kwargs: dict[str, Any] = field(default_factory=dict)
    window: int | None = None
    shape: tuple[int, int, int] | None = None
    artifacts: dict[str, Path] = field(default_factory=dict)  # strategy -> folder holding <name>.onnx

    @classmethod
    def of(cls, entry: ModelEntry, weights: Path, model_dirs: dict[str, Path]) -> HubArtifacts:
        assert entry.hub is not None, f"{entry.name} is a reference model, not a hub entry"
        return cls(entry.name, entry.interface, Path(entry.hub).resolve(), entry.entry, Path(weights).resolve(),
                   dict(entry.kwargs), entry.window, entry.shape,
                   {s: Path(d).resolve() for s, d in model_dirs.items()})

    @property
    def onnx_name(self) -> str:
        return f"{self.name}.onnx"  # as ModelEntry.onnx names it in the cell's model folders

    def onnx_path(self, strategy: str) -> Path:
        return self.artifacts[strategy] / self.onnx_name

    def hub_entry(self, weights: Path | None) -> HubEntry:
        """The converter's view of this model with ``weights`` (None: the entry's own, seeded, init)."""
        from converter.hub import HubEntry

        return HubEntry(self.hub, self.entry, self.interface, dict(self.kwargs), weights, self.window, self.shape)

    def describe(self) -> dict[str, Any]:
        """What rebuilds the PyTorch side (a repro bundle keeps it; its weights travel as model.pth)."""
        return {"name": self.name, "interface": self.interface, "hub": str(self.hub), "entry": self.entry,
                "kwargs": dict(self.kwargs), "window": self.window,
                "shape": list(self.shape) if self.shape else None}

    def to_json(self) -> dict[str, Any]:
        return {**self.describe(), "weights": str(self.weights),
                "artifacts": {s: str(d) for s, d in self.artifacts.items()}}


def write_hubs(folder: Path, models: list[HubArtifacts]) -> Path:
    path = Path(folder) / HUBS_FILE
    atomic.write_json(path, {"format": HUBS_FORMAT, "format_version": 1,
                             "models": {m.name: m.to_json() for m in models}})
    return path


def _path(value: Any, base: Path, where: str) -> Path:
    if not isinstance(value, str) or not value:
        raise AlogError(f"{where}: expected a path, got {value!r}")
    path = Path(value)
    return path if path.is_absolute() else base / path


def _model(name: str, doc: Any, base: Path, where: str) -> HubArtifacts:
    if not isinstance(doc, dict):
        raise AlogError(f"{where}: expected a table, got {doc!r}")
    interface = doc.get("interface")
    if interface not in INTERFACES:
        raise AlogError(f"{where}: interface {interface!r} is not one of {', '.join(INTERFACES)}")
    kwargs, shape, window, artifacts = (doc.get("kwargs") or {}), doc.get("shape"), doc.get("window"), \
        doc.get("artifacts") or {}
    if not isinstance(kwargs, dict) or not isinstance(artifacts, dict) or not isinstance(doc.get("entry"), str):
        raise AlogError(f"{where}: entry must be a name, kwargs and artifacts tables")
    # What each interface needs is HubEntry's to check (converter.hub); here only the types it is given.
    if interface == "next-template" and not isinstance(window, int):
        raise AlogError(f"{where}: a next-template model needs window = N, got {window!r}")
    if interface == "signature-matrix" and not (isinstance(shape, list) and len(shape) == 3
                                                and all(isinstance(v, int) for v in shape)):
        raise AlogError(f"{where}: a signature-matrix model needs shape [step, scales, sensors], got {shape!r}")
    return HubArtifacts(name, interface, _path(doc.get("hub"), base, f"{where}.hub"), doc["entry"],
                        _path(doc.get("weights"), base, f"{where}.weights"), dict(kwargs),
                        window if interface == "next-template" else None,
                        tuple(shape) if interface == "signature-matrix" else None,  # type: ignore[arg-type]
                        {str(s): _path(d, base, f"{where}.artifacts.{s}") for s, d in artifacts.items()})


def read_hubs(folder: Path) -> list[HubArtifacts]:
    """The hub models of ``folder/hubs.json`` in its order; none when the file is absent."""
    path = Path(folder) / HUBS_FILE
    if not path.is_file():
        return []
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AlogError(f"cannot read {path}: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != HUBS_FORMAT or not isinstance(doc.get("models"), dict):
        raise AlogError(f"{path} is not a hub models file (format {HUBS_FORMAT!r} with a models table)")
    base = path.parent.resolve()
    return [_model(name, model, base, f"{path}: models.{name}") for name, model in doc["models"].items()]
