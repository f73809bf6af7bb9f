"""A team's own architecture, named the torch.hub way: a folder with ``hubconf.py``, an entry (a function
of it returning the model), the entry's keyword arguments, and optionally a state_dict read weights-only.

The entry's *interface* says what the model takes and gives (``converter.artifacts.INTERFACES``):

- ``next-template``: int64 template ids [batch, sequence] -> float scores [batch, vocab] (logits,
  log-probabilities or probabilities: the top-g check ranks them, so all three give the same verdicts);
- ``signature-matrix``: float32 [batch, step, scales, sensors, sensors] -> a float reconstruction
  whose first axis is the batch.

Every way a hub entry can be wrong (no hubconf.py, a syntax error in it, an entry that is missing or raises,
weights that do not fit, an output of the wrong rank or dtype) is one line naming the entry; the exception
the entry raised stays the error's cause, so records can name the root cause.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from converter import artifacts, checkpoint
from converter.artifacts import INTERFACES
from converter.atomic import sha256_file
from converter.errors import AlogError, first_line
from converter.specs import ExportSpec, next_template_spec, signature_matrix_spec

HUBCONF = "hubconf.py"
PROBE_BATCH = 2


@dataclass(frozen=True)
class HubEntry:
    """Where a model comes from and what it must do: enough to build it in any torch from 1.13 on."""

    hub: Path  # the folder holding hubconf.py
    entry: str
    interface: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    weights: Path | None = None  # a state_dict; None: the entry's own (seeded) initialisation
    window: int | None = None  # next-template: the sequence length of the export example
    shape: tuple[int, int, int] | None = None  # signature-matrix: (step, scales, sensors)

    def __post_init__(self) -> None:
        if self.interface not in INTERFACES:
            raise AlogError(f"unknown interface {self.interface!r}: choose one of {', '.join(INTERFACES)}")
        if self.interface == "next-template" and not artifacts.in_bounds("seq_len", self.window):
            raise AlogError(f"a next-template model needs a window: {artifacts.bounds_text('seq_len')}")
        if self.interface == "signature-matrix":
            names = ("step", "scales", "sensors")
            if self.shape is None or len(self.shape) != 3 or not all(
                    artifacts.in_bounds(n, v) for n, v in zip(names, self.shape, strict=True)):
                raise AlogError("a signature-matrix model needs its input shape: step, scales and sensors, each "
                                f"{artifacts.bounds_text('step')}")

    @property
    def title(self) -> str:
        return f"hub entry {self.entry} of {self.hub / HUBCONF}"

    @property
    def model_type(self) -> str:
        return INTERFACES[self.interface]

    def kwargs_text(self) -> str:
        return json.dumps(self.kwargs, sort_keys=True)

    def describe(self) -> dict[str, Any]:
        """What names this model in meta.json and the records (the folder by name, so the record can move)."""
        return {"interface": self.interface, "hub": self.hub.name, "entry": self.entry, "kwargs": dict(self.kwargs),
                "weights": self.weights.name if self.weights else None,
                "weights_sha256": sha256_file(self.weights) if self.weights else None}


def build(entry: HubEntry, seed: int | None = None) -> torch.nn.Module:
    """The entry's model as its hubconf.py builds it in this torch (seeded first when ``seed`` is given)."""
    hubconf = entry.hub / HUBCONF
    if not hubconf.is_file():
        raise AlogError(f"{entry.title}: no {HUBCONF} in {entry.hub}")
    if seed is not None:
        torch.manual_seed(seed)
    try:
        model = torch.hub.load(str(entry.hub), entry.entry, source="local", **entry.kwargs)
    except SyntaxError as exc:
        where = "" if exc.filename in (None, str(hubconf)) else f" in {exc.filename}"  # a module hubconf imports
        raise AlogError(f"{entry.title}: syntax error{where} at line {exc.lineno}: {exc.msg}") from exc
    except Exception as exc:  # noqa: BLE001 - whatever the team's code raises is the finding, kept as the cause
        raise AlogError(f"{entry.title} with {entry.kwargs_text()} raised {type(exc).__name__}: "
                        f"{first_line(exc, 300)}") from exc
    if not isinstance(model, torch.nn.Module):
        raise AlogError(f"{entry.title} returned {type(model).__name__}, not a torch.nn.Module")
    return model


def load_weights(model: torch.nn.Module, entry: HubEntry, weights: Path) -> None:
    """``weights`` (a state_dict, read weights-only) into ``model``, or one line naming the first key that does
    not fit: missing, unexpected, or of another shape."""
    state = checkpoint.read_torch_file(weights, "state_dict")
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]  # a training checkpoint that keeps its state_dict under that key
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise AlogError(f"{weights} is not a state_dict (a mapping of names to tensors) for {entry.title}")
    expected = model.state_dict()
    problems = [f"missing key {k!r}" for k in expected if k not in state]
    problems += [f"unexpected key {k!r}" for k in state if k not in expected]
    problems += [f"key {k!r} has shape {list(state[k].shape)}, the model's is {list(v.shape)}"
                 for k, v in expected.items() if k in state and tuple(state[k].shape) != tuple(v.shape)]
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise AlogError(f"{weights} does not fit {entry.title}: {problems[0]}{more}")
    model.load_state_dict(state)


def _probe_input(entry: HubEntry) -> torch.Tensor:
    if entry.interface == "next-template":
        assert entry.window is not None
        return torch.zeros((PROBE_BATCH, entry.window), dtype=torch.int64)  # id 0 exists in every vocabulary
    assert entry.shape is not None
    step, scales, sensors = entry.shape
    return torch.full((PROBE_BATCH, step, scales, sensors, sensors), 0.5)


def check_interface(model: torch.nn.Module, entry: HubEntry) -> int | None:
    """Run the model once on an input of its interface; the output must be what the interface says. Returns
    the vocabulary size (the output width) of a next-template model, None for a signature-matrix one."""
    x = _probe_input(entry)
    try:
        with torch.no_grad():
            y = model(x)
    except Exception as exc:  # noqa: BLE001 - the team's forward: its exception is the finding
        raise AlogError(f"{entry.title} fails on a {entry.interface} input of shape {list(x.shape)} "
                        f"({str(x.dtype).replace('torch.', '')}): {type(exc).__name__}: {first_line(exc, 300)}"
                        ) from exc
    if not isinstance(y, torch.Tensor):
        raise AlogError(f"{entry.title} returns {type(y).__name__}; a {entry.interface} model returns one tensor")
    got = f"{str(y.dtype).replace('torch.', '')} {list(y.shape)}"
    if not y.is_floating_point():
        raise AlogError(f"{entry.title} returns {got}; a {entry.interface} model returns floating-point scores")
    if entry.interface == "next-template":
        if y.dim() != 2 or y.shape[0] != PROBE_BATCH:
            raise AlogError(f"{entry.title} returns {got} for ids {list(x.shape)}; a next-template model returns "
                            "scores [batch, vocab]")
        if not artifacts.in_bounds("vocab_size", int(y.shape[1])):
            raise AlogError(f"{entry.title} returns {got}: its vocabulary size must be "
                            f"{artifacts.bounds_text('vocab_size')}")
        return int(y.shape[1])
    if y.dim() < 2 or y.shape[0] != PROBE_BATCH:
        raise AlogError(f"{entry.title} returns {got} for {list(x.shape)}; a signature-matrix model returns a "
                        "reconstruction [batch, ...]")
    return None


@dataclass
class HubModel:
    """A hub entry built, weighted and checked against its interface, with the spec it is exported by."""

    entry: HubEntry
    module: torch.nn.Module
    spec: ExportSpec
    vocab_size: int | None  # next-template: the output width

    @property
    def name(self) -> str:
        return self.entry.entry


def load(entry: HubEntry, seed: int | None = None) -> HubModel:
    """Build the entry, load its weights when it has some, check its interface, and say how to export it."""
    module = build(entry, seed)
    if entry.weights is not None:
        load_weights(module, entry, entry.weights)
    module.eval()
    vocab_size = check_interface(module, entry)
    if entry.interface == "next-template":
        assert vocab_size is not None and entry.window is not None
        spec = next_template_spec(vocab_size, entry.window)
    else:
        assert entry.shape is not None
        spec = signature_matrix_spec(*entry.shape)
    return HubModel(entry, module, spec, vocab_size)


def save_weights(model: torch.nn.Module, path: Path) -> None:
    """The model's state_dict, written whole or not at all (a file any torch from 1.13 reads weights-only)."""
    from converter import atomic

    with atomic.atomic_path(path) as tmp, open(tmp, "wb") as fh:
        torch.save(model.state_dict(), fh)
