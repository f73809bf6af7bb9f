"""cengine: the C engine on this cell's artifact against this cell's own libonnxruntime: its outputs vs
ONNX Runtime from Python, and (DeepLog) its detection verdicts vs the Python reference detector."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from converter.errors import AlogError
from harness.checks.registry import NoEvidence, Outcome, check

if TYPE_CHECKING:
    from harness.checks.context import ModelContext
    from harness.checks.models import ModelUnderTest

VERDICT_KEYS = ("line", "verdict", "reason", "template", "rank")


def engine_inputs(mut: ModelUnderTest) -> list[tuple[int, int | None]]:
    _, length = mut.spec.export_shape
    if length is None:
        return [(1, None), (7, None)]
    return [(1, length), (7, 2 * length), (64, 4 * length + 3)]


def detection_agreement(model_dir: Path, log: Path, ort_lib: Path, binary: Path) -> dict[str, Any]:
    from converter import detection
    from harness.runtimes import engine as cengine

    engine = cengine.run_detect(model_dir, log, ort_lib=ort_lib, binary=binary)
    reference = detection.detect_file(log, model_dir)
    differ = [(e, r) for e, r in zip(engine, reference)  # noqa: B905 - a length difference is counted below
              if {k: e.get(k) for k in VERDICT_KEYS} != {k: r.get(k) for k in VERDICT_KEYS}]
    return {
        "log": log.name,
        "lines": len(reference),
        "engine_lines": len(engine),
        "disagreements": len(differ) + abs(len(engine) - len(reference)),
        "anomalies_engine": sum(1 for e in engine if e.get("verdict") == "anomaly"),
        "anomalies_reference": sum(1 for r in reference if r.get("verdict") == "anomaly"),
        "first_difference": {"engine": differ[0][0], "reference": differ[0][1]} if differ else None,
    }


def detection_dir(mut: ModelUnderTest, artifact: Path, work: Path) -> Path | None:
    """The engine's model directory for detection (deeplog.onnx, its meta, vocab.json) of a next-template model
    with templates: its artifact folder when its files have those names, else its files linked under them;
    None for a model without templates to detect with."""
    from converter import artifacts

    vocab = mut.entry.engine_vocab
    if mut.spec.model_type != "deeplog" or vocab is None or not (artifact.parent / vocab).is_file():
        return None
    if artifact.name == artifacts.DEEPLOG_ONNX and vocab == artifacts.ENGINE_VOCAB:
        return artifact.parent  # already under the engine's names
    folder = work / "engine-detect" / mut.name
    folder.mkdir(parents=True, exist_ok=True)
    links = {artifacts.DEEPLOG_ONNX: artifact, artifacts.ENGINE_VOCAB: artifact.parent / vocab,
             artifacts.meta_path(artifacts.DEEPLOG_ONNX): artifacts.meta_path(artifact)}
    for name, target in links.items():
        (folder / name).unlink(missing_ok=True)
        (folder / name).symlink_to(Path(target).resolve())
    return folder


def _localize(mut: ModelUnderTest, artifact: Path, x, ctx: ModelContext) -> str:
    from harness.localize.diagnose import localize, unavailable

    try:
        hub = None if mut.entry.reference else mut.entry
        return localize(artifact, x, mut.checkpoint, mut.spec.model_type, tolerance=ctx.tolerance, hub=hub)["lines"][0]
    except Exception as exc:  # noqa: BLE001 - see unavailable
        return unavailable(exc)


@check("cengine", stage="cengine",
       meaning="the C engine now agrees with PyTorch for {model} on torch {torch}: "
       "the accepted engine mismatch is gone")
def cengine(ctx: ModelContext) -> Outcome:
    from converter.compare import compare
    from converter.ortsession import ort_session
    from harness.runtimes import engine

    mut = ctx.exported()
    found = mut.final_artifact()
    if found is None:
        return Outcome(False, error="no artifact: neither auto nor legacy produced one")
    strategy, path = found
    started = time.perf_counter()
    try:
        binary = ctx.cell.once("engine", "cengine", engine.engine_for_cell)
    except AlogError as exc:  # no compiler, no headers, no sources: no engine evidence, never a pass
        raise NoEvidence(f"the C engine is not available here: {exc}") from None
    ort_lib = engine.default_ort_lib()
    session = ort_session(path)
    comparisons = []
    inputs = []
    for seed, (batch, length) in enumerate(engine_inputs(mut), start=11):
        x = mut.spec.make_input(batch, length, seed).numpy()
        inputs.append(x)
        expected = session.run([mut.spec.output_name], {mut.spec.input_name: x})[0]
        actual = engine.run_parity(path, x, ort_lib=ort_lib, binary=binary)
        comparisons.append(compare(expected, actual, ctx.tolerance, f"engine vs ORT at {list(x.shape)}"))
    failed = [c for c in comparisons if not c]
    figures: dict[str, Any] = {
        "max_abs_error": max(c.max_abs_error for c in comparisons),
        "max_rel_error": max(c.max_rel_error for c in comparisons),
        "examples": len(comparisons),
    }
    detail: dict[str, Any] = {"artifact": strategy, "ort_lib": str(ort_lib), "engine": str(binary)}
    errors = [f"{len(failed)} of {len(comparisons)} inputs differ: {failed[0].describe()}"] if failed else []
    if failed:  # is the graph at fault (a node), or the engine's own reading and writing of tensors?
        detail["divergence"] = _localize(mut, path, inputs[comparisons.index(failed[0])], ctx)
    model_dir = detection_dir(mut, path, ctx.work)
    if model_dir is not None:
        agreement = detection_agreement(model_dir, mut.log, ort_lib, binary)
        figures.update({k: agreement[k] for k in ("lines", "disagreements", "anomalies_engine", "anomalies_reference")})
        detail["detection"] = agreement
        if agreement["disagreements"]:
            errors.append(f"detection differs from the Python reference on {agreement['disagreements']} of "
                          f"{agreement['lines']} lines, first: {agreement['first_difference']}")
    return Outcome(not errors, error="; ".join(errors) or None, figures=figures, detail=detail,
                   seconds=round(time.perf_counter() - started, 3))
