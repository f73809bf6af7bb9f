"""How each model is exported and checked: names, dynamic axes, and the input shapes to try."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from converter import artifacts
from converter.models import MSCRED, DeepLog

Shape = tuple[int, int | None]  # (batch, sequence length or None when the model has no such axis)


@dataclass
class ExportSpec:
    model_type: str
    input_name: str
    output_name: str
    input_axes: dict[int, str]  # axes of the input that must stay dynamic
    output_axes: dict[int, str]
    make_input: Callable[[int, int | None, int], torch.Tensor]  # (batch, seq, seed) -> tensor
    export_shape: Shape
    check_shapes: list[Shape] = field(default_factory=list)  # auto: parity at shapes other than export's
    validate_shapes: list[Shape] = field(default_factory=list)  # --validate: the fuller sweep

    def legacy_dynamic_axes(self) -> dict[str, dict[int, str]]:
        return {self.input_name: dict(self.input_axes), self.output_name: dict(self.output_axes)}


def next_template_spec(vocab: int, window: int) -> ExportSpec:
    """int64 template ids [batch, sequence] -> float scores [batch, vocab] (DeepLog's interface)."""

    def make_input(batch: int, length: int | None, seed: int = 0) -> torch.Tensor:
        generator = torch.Generator().manual_seed(seed)
        return torch.randint(0, vocab, (batch, length or window), generator=generator, dtype=torch.int64)

    export_seq = max(2, window)  # torch.export specialises axes of size 1
    return ExportSpec(
        model_type="deeplog",
        input_name=artifacts.DEEPLOG_INPUT,
        output_name=artifacts.DEEPLOG_OUTPUT,
        input_axes={0: "batch", 1: "sequence"},
        output_axes={0: "batch"},
        make_input=make_input,
        export_shape=(2, export_seq),
        check_shapes=[(3, export_seq + 3), (1, max(1, export_seq // 2))],
        validate_shapes=[(b, s) for b in (1, 7, 64) for s in sorted({1, window, 2 * window, 4 * window + 3})],
    )


def signature_matrix_spec(step: int, scales: int, sensors: int) -> ExportSpec:
    """float32 signature matrices [batch, step, scales, sensors, sensors] -> a reconstruction (MSCRED's)."""

    def make_input(batch: int, _length: int | None, seed: int = 0) -> torch.Tensor:
        generator = torch.Generator().manual_seed(seed)
        return torch.rand((batch, step, scales, sensors, sensors), generator=generator)

    return ExportSpec(
        model_type="mscred",
        input_name=artifacts.MSCRED_INPUT,
        output_name=artifacts.MSCRED_OUTPUT,
        input_axes={0: "batch"},
        output_axes={0: "batch"},
        make_input=make_input,
        export_shape=(2, None),
        check_shapes=[(3, None), (1, None)],
        validate_shapes=[(1, None), (7, None), (16, None)],
    )


def deeplog_spec(model: DeepLog, seq_len: int | None = None) -> ExportSpec:
    return next_template_spec(model.config.vocab_size, seq_len or model.config.seq_len)


def mscred_spec(model: MSCRED) -> ExportSpec:
    c = model.config
    return signature_matrix_spec(c.step, c.scales, c.sensors)


def spec_for(model: torch.nn.Module) -> ExportSpec:
    """The export spec of any of our models (DeepLog or MSCRED)."""
    if isinstance(model, DeepLog):
        return deeplog_spec(model)
    if isinstance(model, MSCRED):
        return mscred_spec(model)
    raise TypeError(f"no export spec for {type(model).__name__}")
