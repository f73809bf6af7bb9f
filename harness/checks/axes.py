"""dynamic_axes: the artifact a user gets keeps batch and sequence symbolic and agrees with PyTorch at
batches {1, 7, 64} x lengths {1, L, 2L, 4L+3} (MSCRED: its step is part of the model, only the batch moves)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from harness.checks.registry import Outcome, check

if TYPE_CHECKING:
    from harness.checks.context import ModelContext
    from harness.checks.models import ModelUnderTest

DYNAMIC_BATCHES = (1, 7, 64)


def dynamic_shapes(mut: ModelUnderTest) -> list[tuple[int, int | None]]:
    _, length = mut.spec.export_shape
    if length is None:
        return [(b, None) for b in DYNAMIC_BATCHES]
    seq = mut.entry.window or mut.torch_model.config.seq_len  # a hub entry names its window
    lengths = sorted({1, length, 2 * length, 4 * length + 3, seq})
    return [(b, s) for b in DYNAMIC_BATCHES for s in lengths]


def repro_bundle(mut: ModelUnderTest, strategy: str, artifact: Path, x, comparison, ctx: ModelContext) -> Path:
    """A parity bundle holding the very input that failed, replayable with the command it records."""
    import numpy as np

    from harness.parity.bundles import write_bundle
    from harness.parity.sessions import SessionCache
    from harness.parity.subjects import Subject

    subject = Subject(f"{mut.name}/{strategy}", mut.spec.model_type, mut.torch_model, artifact, mut.checkpoint,
                      mut.spec.input_name, mut.spec.output_name, hub=mut.entry.hub_description())
    array = x.numpy()
    expected = subject.torch_output(array)
    try:
        actual = subject.ort_output(array, SessionCache())
    except Exception:  # noqa: BLE001 - ONNX Runtime refusing the shape is the failure the bundle shows
        actual = None
    return write_bundle(ctx.work / "repro", f"{mut.name}-dynamic_axes", subject, np.asarray(array), expected,
                        actual, ctx.tolerance, f"dynamic_axes failed: {comparison.describe()}",
                        details={"comparison": comparison.figures()}, test="dynamic_axes")


@check("dynamic_axes", stage="dynamic_axes",
       meaning="batch and sequence axes now stay dynamic for {model} on torch {torch}: "
       "the exported graph no longer freezes a shape there")
def dynamic_axes(ctx: ModelContext) -> Outcome:
    from converter import graphinfo
    from converter.ortsession import ort_session
    from converter.verification import compare_inputs, shape_inputs, worst
    from harness.parity.bundles import bundle_replay_command

    mut = ctx.exported()
    found = mut.final_artifact()
    if found is None:
        return Outcome(False, error="no artifact: neither auto nor legacy produced one")
    strategy, path = found
    spec = mut.spec
    started = time.perf_counter()
    info = graphinfo.describe(path)
    frozen = graphinfo.frozen_axes(info, spec.input_name, spec.input_axes)
    shapes = dynamic_shapes(mut)
    inputs = shape_inputs(spec, shapes)
    comparisons = compare_inputs(mut.torch_model, ort_session(path), spec, inputs, ctx.tolerance)
    failed = [i for i, c in enumerate(comparisons) if not c]
    detail = {"artifact": strategy, "input_dims": info["inputs"].get(spec.input_name), "frozen_axes": frozen,
              "shapes": [[b, s] for b, s in shapes],
              "per_shape": [{"name": c.name, "ok": bool(c), "max_abs_error": c.max_abs_error, "problem": c.problem}
                            for c in comparisons]}
    outcome = Outcome(not frozen and not failed, detail=detail,
                      figures={**worst(comparisons), "examples": len(comparisons)})
    if frozen:
        outcome.error = "graph input axes are fixed: " + ", ".join(f"{k}={v}" for k, v in frozen.items())
    elif failed:
        outcome.error = f"{len(failed)} of {len(comparisons)} shapes failed: {comparisons[failed[0]].describe()}"
    if failed:
        from harness.localize.diagnose import localize_bundle

        first = failed[0]
        bundle = repro_bundle(mut, strategy, path, inputs[first], comparisons[first], ctx)
        outcome.repro, outcome.replay = str(bundle), bundle_replay_command(bundle)
        outcome.detail["divergence"] = localize_bundle(bundle, mut.checkpoint, mut.spec.model_type, ctx.matrix,
                                                         hub=None if mut.entry.reference else mut.entry)
    outcome.seconds = round(time.perf_counter() - started, 3)
    return outcome
