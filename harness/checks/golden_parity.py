"""The golden checks: the run's golden inputs through this cell's PyTorch and through every artifact it
made, against the golden outputs (the reference PyTorch's, computed once per run by ``harness.golden``).

torch_drift tells a torch change apart from an exporter error: the same weights on another torch. An
artifact that differs from the golden outputs is diagnosed against this cell's own PyTorch too: it agrees
with it (the torch moved), or it does not (the exporter's translation is wrong).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.checks.registry import Outcome, check

if TYPE_CHECKING:
    from converter.compare import Comparison
    from harness.checks.context import ModelContext

FIGURE_KEYS = ("max_abs_error", "max_rel_error", "outliers", "elements")


def summarize(comparisons: list[Comparison]) -> dict[str, Any]:
    """Worst figures over comparisons, the failing ones counted, the worst case named."""
    finite = [c for c in comparisons if not c.problem]
    worst = max(finite, key=lambda c: c.max_abs_error, default=None)
    return {"cases": len(comparisons), "failed": sum(1 for c in comparisons if not c),
            "max_abs_error": worst.max_abs_error if worst is not None else None,
            "max_rel_error": max((c.max_rel_error for c in finite), default=None),
            "outliers": sum(c.outliers for c in finite), "elements": sum(c.elements for c in comparisons),
            "worst_case": worst.name if worst is not None else None}


def per_case(comparisons: list[Comparison]) -> list[dict[str, Any]]:
    return [{"case": c.name, "shape": list(c.shape), "ok": bool(c), "max_abs_error": c.max_abs_error,
             "outliers": c.outliers, "problem": c.problem} for c in comparisons]


def torch_outputs(ctx: ModelContext) -> dict[str, Any]:
    """This cell's PyTorch on the golden inputs (once per model)."""
    import torch

    mut = ctx.loaded()

    def run() -> dict[str, Any]:
        with torch.inference_mode():
            return {name: mut.torch_model(torch.from_numpy(x)).numpy()
                    for name, (x, _) in ctx.cell.golden().cases(ctx.model).items()}

    return ctx.cell.once(f"torch_outputs:{ctx.model}", "golden", run)


@check("torch_drift", stage="golden",
       meaning="this torch now gives {model}'s golden outputs again on torch {torch}: the accepted drift is gone")
def torch_drift(ctx: ModelContext) -> Outcome:
    """The same weights on this torch give the golden outputs within the tolerance policy."""
    from converter.compare import compare

    outputs = torch_outputs(ctx)  # first: a model that does not load here is not reached, whatever its golden data
    cases = ctx.cell.golden().cases(ctx.model)
    comparisons = [compare(expected, outputs[name], ctx.tolerance, name) for name, (_, expected) in cases.items()]
    figures = summarize(comparisons)
    golden = ctx.cell.golden().manifest
    detail = {"golden_torch": golden["environment"].get("torch"),
              "golden_sha256": golden["models"][ctx.model]["sha256"], "per_case": per_case(comparisons)}
    failed = [c for c in comparisons if not c]
    error = (f"this torch differs from the golden outputs ({detail['golden_torch']}) on {len(failed)} of "
             f"{len(comparisons)} cases: {failed[0].describe()}") if failed else None
    return Outcome(not failed, error=error, figures=figures, detail=detail)


def _keep(ctx: ModelContext, strategy: str, record: dict[str, Any], mine: dict[str, Any]) -> None:
    """Beside the kept artifact: the golden cases it was checked on, what it gave on them, and what this cell's
    PyTorch gave (the runtime stage compares every runtime with both)."""
    import numpy as np

    if ctx.cell.keep_dir is None:
        return
    target = ctx.cell.keep_dir / strategy
    target.mkdir(parents=True, exist_ok=True)
    golden = ctx.cell.golden()
    data = golden.folder / golden.model(ctx.model)["data"]
    kept = target / f"{ctx.model}.golden.npz"
    kept.unlink(missing_ok=True)
    try:
        os.link(data, kept)  # the same bytes as the run's golden file: no copy needed
    except OSError:
        shutil.copyfile(data, kept)
    (target / f"{ctx.model}.golden.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    with open(target / f"{ctx.model}.torch.npz", "wb") as handle:
        np.savez(handle, **{f"out_{name}": value for name, value in mine.items()})


@check("golden_parity", stage="golden",
       meaning="every {model} artifact of torch {torch} now gives the golden outputs: the accepted gap is gone")
def golden_parity(ctx: ModelContext) -> Outcome:
    """Every artifact the cell produced (each strategy), in ONNX Runtime, gives the golden outputs; each is
    also compared with this cell's PyTorch, so an exporter error and a torch change are told apart."""
    from converter.compare import compare
    from converter.ortsession import ort_session

    mut = ctx.exported()
    strategies = mut.strategies_with_artifacts()
    if not strategies:
        return Outcome(False, error="no artifact: no strategy produced one in this cell")
    cases = ctx.cell.golden().cases(ctx.model)
    mine = torch_outputs(ctx)
    detail: dict[str, Any] = {"artifacts": {}}
    figures: dict[str, Any] = {"artifacts": len(strategies), "cases": len(cases)}
    worst: list[Comparison] = []
    failures = []
    for strategy in strategies:
        session = ort_session(mut.model_dirs[strategy] / mut.entry.onnx)
        spec = mut.spec
        outputs = {name: session.run([spec.output_name], {spec.input_name: x})[0] for name, (x, _) in cases.items()}
        vs_golden = [compare(expected, outputs[name], ctx.tolerance, f"{strategy} {name}")
                     for name, (_, expected) in cases.items()]
        vs_torch = [compare(mine[name], outputs[name], ctx.tolerance, f"{strategy} {name} vs this torch")
                    for name in cases]
        bad = [c for c in vs_golden if not c]
        diagnosis = None if not bad else ("exporter" if any(not c for c in vs_torch) else "torch")
        record: dict[str, Any] = {"strategy": strategy, "vs_golden": summarize(vs_golden),
                                  "vs_torch": summarize(vs_torch), "diagnosis": diagnosis,
                                  "per_case": per_case(vs_golden)}
        detail["artifacts"][strategy] = record
        figures[f"{strategy}_max_abs_error"] = record["vs_golden"]["max_abs_error"]
        worst += vs_golden
        _keep(ctx, strategy, record, mine)
        if bad:
            why = ("an exporter error: it differs from this torch too" if diagnosis == "exporter"
                   else "this torch moved: the artifact agrees with it")
            failures.append(f"{strategy} ({why}): {bad[0].describe()}")
            if "divergence" not in detail:  # the first failing artifact is localized and bundled
                from harness.localize.diagnose import localize_bundle

                case = bad[0].name.split(" ", 1)[1]
                bundle = _bundle(ctx, mut, strategy, cases[case][0], cases[case][1], outputs[case], bad[0])
                detail["repro"] = str(bundle)
                detail["divergence"] = localize_bundle(bundle, mut.checkpoint, mut.spec.model_type, ctx.matrix,
                                                              hub=None if mut.entry.reference else mut.entry)
    figures.update({k: summarize(worst)[k] for k in FIGURE_KEYS})
    error = None
    if failures:
        error = (f"{len(failures)} of {len(strategies)} {ctx.model} artifacts differ from the golden outputs: "
                 + "; ".join(failures))
    outcome = Outcome(not failures, error=error, figures=figures, detail=detail)
    if "repro" in detail:
        from harness.parity.bundles import bundle_replay_command

        outcome.repro = detail.pop("repro")
        outcome.replay = bundle_replay_command(outcome.repro)
    return outcome


def _bundle(ctx: ModelContext, mut, strategy: str, x, expected, actual, comparison) -> Path:
    """A bundle of the failing case: the artifact, the case's input, the golden output as the expected one
    (no weights: replay compares the artifact with the golden output, as the check did)."""
    from harness.parity.bundles import write_bundle
    from harness.parity.subjects import Subject

    subject = Subject(f"{mut.name}/{strategy}", mut.spec.model_type, mut.torch_model,
                      mut.model_dirs[strategy] / mut.entry.onnx, None, mut.spec.input_name, mut.spec.output_name,
                      hub=mut.entry.hub_description())
    return write_bundle(ctx.work / "repro", f"{mut.name}-golden_parity-{strategy}", subject, x, expected, actual,
                        ctx.tolerance, f"golden_parity failed: {comparison.describe()}",
                        details={"comparison": comparison.figures()}, test="golden_parity")

