"""train: the converter's pipeline runs on this torch; checkpoint_load: the run's golden checkpoint loads in it.

The other checks run on the golden checkpoint, so a torch that cannot train still shows what its exporters
do with the team's weights, and a torch that cannot read them says so once, with the root cause."""

from __future__ import annotations

from typing import TYPE_CHECKING

from converter.errors import root_cause
from harness.checks.registry import NotReached, Outcome, check

if TYPE_CHECKING:
    from harness.checks.context import ModelContext


@check("train", stage="train",
       meaning="the converter's pipeline now trains {model} on torch {torch}: the recorded training failure "
       "is gone")
def train(ctx: ModelContext) -> Outcome:
    """Parse, build the inputs, train (seeded, a few epochs) and convert with legacy, on this torch."""
    if not ctx.matrix.entry(ctx.model).reference:
        return Outcome.skip("the converter's pipeline trains its own architectures; a hub entry is trained by its "
                            "team (its given or seeded weights are the golden ones)")
    training = ctx.cell.training()
    seconds = round(training.seconds, 3)
    if training.stopped is not None:
        return Outcome(False, error=f"the converter's pipeline stopped: {training.cause}",
                       root_cause=root_cause(training.stopped), seconds=seconds)
    if ctx.model not in training.checkpoints:
        return Outcome(False, error=f"the pipeline made no {ctx.model} checkpoint", seconds=seconds)
    return Outcome(True, detail={"checkpoint": str(training.checkpoints[ctx.model])}, figures={"seconds": seconds},
                   seconds=seconds)


@check("checkpoint_load", stage="load",
       meaning="the golden {model} checkpoint now loads on torch {torch}: the recorded load failure is gone")
def checkpoint_load(ctx: ModelContext) -> Outcome:
    """The golden checkpoint loads here (torch.load with weights_only) and is the one the golden outputs came
    from (its digest); a torch that cannot read it is a finding with its root cause."""
    from converter.atomic import sha256_file

    golden = ctx.cell.golden()
    if ctx.model not in golden.models:
        raise NotReached(f"not reached: the run's golden data holds no {ctx.model} model")
    entry = golden.model(ctx.model)
    detail = {"golden_error": entry["error"]} if "error" in entry else {
        "checkpoint": str(golden.checkpoint(ctx.model)), "sha256": entry["sha256"]}
    try:
        mut = ctx.cell.load(ctx.model)
    except Exception as exc:  # noqa: BLE001 - the refusal is the finding
        what = "golden checkpoint" if ctx.matrix.entry(ctx.model).reference else "hub entry"
        return Outcome(False, error=f"the {what} does not load in this torch: {exc}",
                       root_cause=root_cause(exc), detail=detail)
    if not mut.entry.reference:
        detail["origin"] = entry.get("origin")
    found = sha256_file(mut.checkpoint)
    if found != entry["sha256"]:
        return Outcome(False, error=f"{mut.checkpoint} changed since the golden outputs were taken (sha256 "
                       f"{found[:12]}, golden {entry['sha256'][:12]}): every figure below is against other weights",
                       detail={**detail, "found_sha256": found})
    return Outcome(True, detail={**detail, "config": entry["config"]})
