"""The models of a matrix, as data: each a named entry with an interface, not one of two hard-coded names.

The two reference models (alog-detect's DeepLog and MSCRED, trained by the run or given as alog-detect
checkpoints in ``[model]``) are two entries of the same mechanism as a team's own architecture, named the
torch.hub way in ``[model.NAME]``::

    [model.transformer]
    hub = "models/hub"            # a folder with hubconf.py
    entry = "template_transformer"
    kwargs = { vocab_size = 30, d_model = 32 }
    weights = "models/transformer.pth"   # optional state_dict (read weights-only)
    interface = "next-template"   # or "signature-matrix" with shape = [step, scales, sensors]
    window = 10
    vocab = "models/vocab.json"   # optional: the templates

Standard library only: the matrix is read before anything is installed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from converter.artifacts import BOUNDS, ENGINE_VOCAB, INTERFACES, meta_path
from converter.errors import AlogError
from converter.logformats import FORMATS
from harness.config import schema as s

REFERENCE_TITLES = {"deeplog": "DeepLog", "mscred": "MSCRED"}
REFERENCE_MODELS = tuple(REFERENCE_TITLES)
# [model]'s own keys, and the names the parity figures keep their own totals under ("selfcheck", "any"):
# no hub entry takes these names.
RESERVED = ("deeplog", "mscred", "vocab", "log", "format", "selfcheck", "any")


@dataclass(frozen=True)
class ModelEntry:
    """One model of the matrix: its name (which names its artifact files), interface and origin."""

    name: str
    interface: str
    hub: Path | None = None  # None: a reference model (alog-detect's own architecture)
    entry: str = ""
    kwargs: dict[str, Any] = field(default_factory=dict)
    weights: Path | None = None
    window: int | None = None
    shape: tuple[int, int, int] | None = None
    vocab: Path | None = None
    vocab_file: str | None = None  # the engine vocab's file name beside the artifact (DeepLog's: vocab.json)

    @property
    def reference(self) -> bool:
        return self.hub is None

    @property
    def title(self) -> str:
        return REFERENCE_TITLES.get(self.name, self.name)

    @property
    def model_type(self) -> str:
        """The engine's name for the interface (meta.json's model_type)."""
        return INTERFACES[self.interface]

    @property
    def onnx(self) -> str:
        return f"{self.name}.onnx"

    @property
    def engine_vocab(self) -> str | None:
        """The engine vocab beside the artifact, when the model has templates."""
        return self.vocab_file or (f"{self.name}.vocab.json" if self.vocab is not None else None)

    def artifact_files(self) -> tuple[str, ...]:
        """The files of this model in a model directory: the ONNX file, its meta, and its engine vocab."""
        vocab = self.engine_vocab
        return (self.onnx, str(meta_path(self.onnx))) + ((vocab,) if vocab else ())

    def hub_entry(self, weights: Path | None):
        """The converter's view of this hub entry (``converter.hub.HubEntry``), with these weights."""
        from converter.hub import HubEntry

        assert self.hub is not None
        return HubEntry(self.hub, self.entry, self.interface, dict(self.kwargs), weights, self.window, self.shape)

    def hub_description(self) -> dict[str, Any] | None:
        """What rebuilds a hub entry's PyTorch side in a repro bundle (its weights travel as model.pth); None
        for a reference model (its checkpoint says it all)."""
        if self.reference:
            return None
        return {"name": self.name, "interface": self.interface, "hub": str(self.hub), "entry": self.entry,
                "kwargs": dict(self.kwargs), "window": self.window, "shape": list(self.shape) if self.shape else None}

    def origin(self) -> dict[str, Any]:
        """What the report shows of where the model comes from (the weights' digest is the golden stage's)."""
        if self.reference:
            return {"kind": "reference", "interface": self.interface}
        return {"kind": "hub", "interface": self.interface, "hub": str(self.hub), "entry": self.entry,
                "kwargs": dict(self.kwargs), "weights": str(self.weights) if self.weights else None,
                "window": self.window, "shape": list(self.shape) if self.shape else None,
                "vocab": str(self.vocab) if self.vocab else None}


REFERENCE_ENTRIES = {"deeplog": ModelEntry("deeplog", "next-template", vocab_file=ENGINE_VOCAB),
                     "mscred": ModelEntry("mscred", "signature-matrix")}


def _kwarg(value: Any, where: str) -> Any:
    if isinstance(value, dict):
        return {str(k): _kwarg(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_kwarg(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, (str, int, float, bool)):
        return value
    raise s.SchemaError(f"{where}: {value!r} cannot be a keyword argument (strings, numbers, booleans, lists, "
                        "tables)")


HUB_TABLE = s.table({
    "hub": s.text(), "entry": s.text(pattern=s.re.compile(r"[A-Za-z_][A-Za-z0-9_]*"), hint=": a Python name"),
    "kwargs": s.mapping_of(_kwarg), "weights": s.text(),
    "interface": s.text(choices=tuple(INTERFACES)),
    "window": s.integer(minimum=1), "vocab": s.text(),
    "shape": s.list_of(s.integer(minimum=1), nonempty=True),
}, required=("hub", "entry", "interface"))


def model_table(value: Any, where: str) -> dict[str, Any]:
    """``[model]``: today's keys (an alog-detect checkpoint per reference model, its vocab and log), and one
    ``[model.NAME]`` table per hub entry."""
    plain = {"deeplog": s.text(), "vocab": s.text(), "mscred": s.text(), "log": s.text(),
             "format": s.text(choices=("auto", *FORMATS))}
    if not isinstance(value, dict):
        raise s.SchemaError(f"{where}: must be a table, got {value!r}")
    checked = s.table(plain)({k: v for k, v in value.items() if not isinstance(v, dict)}, where)
    for name, table in value.items():
        if not isinstance(table, dict):
            continue
        if name in RESERVED:
            raise s.SchemaError(f"{where}.{name}: {name!r} is a reserved name; name the hub entry "
                                "otherwise")
        if not s.SAFE_ID.fullmatch(name):
            raise s.SchemaError(f"{where}.{name}: a model name is letters, digits, '.', '_' and '-' (it names files)")
        checked[name] = HUB_TABLE(table, f"{where}.{name}")
    return checked


def hub_entries(path: Path, table: dict[str, Any], relative) -> dict[str, ModelEntry]:
    """The ``[model.NAME]`` tables as entries, their paths taken from the matrix file's folder, each checked
    for what its interface needs."""
    entries = {}
    for name, hub in table.items():
        if not isinstance(hub, dict):
            continue
        where = f"{path}: [model.{name}]"
        interface = hub["interface"]
        window, shape = hub.get("window"), hub.get("shape")
        if interface == "next-template":
            if window is None:
                raise AlogError(f"{where}: a next-template model needs window = N (the sequence length of its "
                                "golden inputs and export example)")
            if shape is not None:
                raise AlogError(f"{where}: shape is for a signature-matrix model; a next-template one has a window")
            if window > BOUNDS["seq_len"][1]:
                raise AlogError(f"{where}: window {window} is over {BOUNDS['seq_len'][1]}")
        else:
            if shape is None or len(shape) != 3:
                raise AlogError(f"{where}: a signature-matrix model needs shape = [step, scales, sensors]")
            if window is not None or hub.get("vocab") is not None:
                raise AlogError(f"{where}: window and vocab are for a next-template model")
        entries[name] = ModelEntry(name, interface, relative(hub["hub"]), hub["entry"], dict(hub.get("kwargs", {})),
                                   relative(hub.get("weights")), window, tuple(shape) if shape else None,
                                   relative(hub.get("vocab")))
    return entries
