"""The checks of one cell, per model, in ``harness.results.CHECKS`` order.

Raw torch behaviour comes from ``harness.probes``; everything about the converter's own exports
comes from its ``ExportRecord`` (``converter.exporting``), never from re-implemented export logic.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from converter.errors import AlogError
from harness import probes
from harness.matrix import Cell, Matrix
from harness.results import CHECKS

ROOT = Path(__file__).resolve().parent.parent
TRAIN_WINDOW = 10
TRAIN_EPOCHS = 3
MSCRED_EPOCHS = 1  # MSCRED trains ~6 s an epoch here; parity does not need a converged model
DYNAMIC_BATCHES = (1, 7, 64)
ENGINE_ENV = "ALOG_CENGINE_BIN"  # set by the orchestrator: the engine it built once for all cells
ENGINE_ERROR_ENV = "ALOG_CENGINE_ERROR"  # set instead when that build failed
PARITY_TIMEOUT_S = 1500
MODEL_NAMES = ("deeplog", "mscred")


@dataclass
class ModelUnderTest:
    name: str
    checkpoint: Path
    torch_model: Any
    spec: Any
    records: dict[str, Any] = field(default_factory=dict)  # strategy -> ExportRecord (None when not reached)
    errors: dict[str, str] = field(default_factory=dict)  # strategy -> why there is no record
    model_dirs: dict[str, Path] = field(default_factory=dict)  # strategy -> folder holding the artifact
    default_call: Any = None
    log: Path | None = None  # the log the model was trained on (detection runs on it)

    @property
    def onnx_name(self) -> str:
        from converter import artifacts

        return artifacts.DEEPLOG_ONNX if self.name == "deeplog" else artifacts.MSCRED_ONNX

    def artifact(self, strategy: str) -> Path | None:
        record = self.records.get(strategy)
        path = self.model_dirs.get(strategy, Path("/nonexistent")) / self.onnx_name
        return path if record is not None and record.ok and path.is_file() else None


def tolerance_of(matrix: Matrix):
    from converter.compare import Tolerance

    return Tolerance.from_mapping(matrix.tolerance)


# --- the cell, start to end ------------------------------------------------------------------


def run_all(cell: Cell, matrix: Matrix, rec, stages, work: Path) -> None:
    models = [m for m in matrix.models]

    def check(model: str, name: str, fn) -> None:
        if name in matrix.checks:
            rec.guarded(model, name, fn)
        else:
            rec.add(model, name, None, skip_reason="not selected in [defaults].checks")

    with stages.timed("probe"):
        signature = _signature_checks(models, rec, work)
    with stages.timed("train"):
        trained = _train(cell, matrix, models, rec, work)
    if trained is None:
        return
    for mut in trained:
        with stages.timed("default_call"):
            check(mut.name, "default_call", lambda: _default_call(mut, rec, work))
    with stages.timed("export"):
        for mut in trained:
            _export_strategies(mut, matrix, work)
    for mut in trained:
        for name, strategy, fn in (
            ("legacy_export", "legacy", lambda: _legacy_export(mut, rec)),
            ("typeerror_fallback", "legacy", lambda: _typeerror_fallback(mut, rec)),
            ("dynamo_export", "dynamo", lambda: _dynamo_export(mut, rec, signature, work)),
            ("auto_export", "auto", lambda: _auto_export(mut, rec)),
        ):
            if strategy in matrix.strategies or strategy in mut.records:
                check(mut.name, name, fn)
            else:
                rec.add(mut.name, name, None, skip_reason=f"the {strategy} strategy is not in [defaults].strategies")
    with stages.timed("dynamic_axes"):
        for mut in trained:
            check(mut.name, "dynamic_axes", lambda: _dynamic_axes(mut, matrix, rec, work))
    with stages.timed("parity"):
        if "parity" not in matrix.checks:
            for mut in trained:
                check(mut.name, "parity", lambda: None)
        elif not parity_suite_present():
            for mut in trained:
                rec.add(mut.name, "parity", None, skip_reason="the parity suite (pytest --artifacts) is not in this checkout")
        else:
            _parity(trained, matrix, rec, work)
    with stages.timed("cengine"):
        for mut in trained:
            check(mut.name, "cengine", lambda: _cengine(mut, matrix, rec, work))
    for mut in trained:
        check(mut.name, "warnings", lambda: _warnings(mut, matrix, rec))


# --- exporter_signature ----------------------------------------------------------------------


def _signature_checks(models: list[str], rec, work: Path):
    started = time.perf_counter()
    try:
        sig = probes.exporter_signature(work)
    except Exception as exc:  # noqa: BLE001
        for model in models:
            rec.add_error(model, "exporter_signature", exc, time.perf_counter() - started)
        return None
    swallowed = sig.unknown_keyword != "rejected"
    for model in models:
        rec.add(
            model, "exporter_signature", not swallowed,
            error=(f"torch.onnx.export did not reject an unknown keyword ({sig.unknown_keyword}): "
                   "a TypeError-based fallback cannot tell a missing keyword") if swallowed else None,
            root=sig.unknown_keyword_error if swallowed else None,
            detail=sig.to_detail(), warnings=sig.warnings, seconds=round(sig.seconds, 3),
        )
    return sig


# --- training through the converter's pipeline -----------------------------------------------


def _training_log(matrix: Matrix, work: Path) -> tuple[Path, str]:
    from harness import synthlog

    real = matrix.data_log()
    if real is not None:
        if not real.is_file():
            raise AlogError(f"[data] log = {real} does not exist")
        return real, str(matrix.data.get("format", "auto"))
    log = work / "synthetic_hdfs.log"
    synthlog.generate(log, blocks=int(matrix.data.get("synthetic_blocks", 300)), seed=int(matrix.data.get("seed", 7)))
    return log, "hdfs"


def _train(cell: Cell, matrix: Matrix, models: list[str], rec, work: Path) -> list[ModelUnderTest] | None:
    """Train the models and run the legacy conversion with ``converter.pipeline.run_pipeline``."""
    from converter.exporting import ExportFailed

    train_dir = work / "train"
    legacy_dir = work / "models" / "legacy"
    for stale in (train_dir, work / "models"):
        shutil.rmtree(stale, ignore_errors=True)
    started = time.perf_counter()
    try:
        from converter import checkpoint, specs
        from converter.pipeline import run_pipeline

        log, fmt = _training_log(matrix, work)
        result = run_pipeline(
            log, train_dir, fmt=fmt, window=TRAIN_WINDOW, epochs=TRAIN_EPOCHS, exporter="legacy",
            seed=int(matrix.data.get("seed", 7)), mscred="mscred" in models, mscred_epochs=MSCRED_EPOCHS,
            model_dir=legacy_dir,
        )
    except Exception as exc:  # noqa: BLE001 - recorded against every check that could not run
        seconds = round(time.perf_counter() - started, 3)
        failed_model = exc.record.model_type if isinstance(exc, ExportFailed) else None
        cause = f"{type(exc).__name__}: {probes.first_line(exc)}"
        for model in models:
            if model == failed_model:
                _record_export_failure(rec, model, "legacy_export", exc.record)
            elif isinstance(exc, AlogError):  # the converter refused: a failure of the converter on this torch
                rec.add(model, "legacy_export", False, error=f"the converter's pipeline stopped: {cause}",
                        root=probes.root_cause(exc), seconds=seconds)
            else:
                rec.add_error(model, "legacy_export", exc, seconds)
            for check in CHECKS:  # the failure above is the finding; these could not run after it
                if check not in ("exporter_signature", "legacy_export"):
                    rec.add(model, check, None, skip_reason=f"not reached: the training pipeline stopped ({cause[:200]})")
        return None
    trained = []
    for name in models:
        ckpt = train_dir / f"{name}.pth"
        converted = result.deeplog if name == "deeplog" else result.mscred
        if converted is None:
            continue
        torch_model, _ = checkpoint.load(ckpt, name)
        spec = specs.deeplog_spec(torch_model) if name == "deeplog" else specs.mscred_spec(torch_model)
        mut = ModelUnderTest(name, ckpt, torch_model, spec, log=log)
        mut.records["legacy"] = converted.record
        mut.model_dirs["legacy"] = legacy_dir
        trained.append(mut)
    return trained


def _export_strategies(mut: ModelUnderTest, matrix: Matrix, work: Path) -> None:
    """Every strategy of matrix.toml other than legacy (already run by the pipeline), via convert_*."""
    from converter import convert
    from converter.exporting import ExportFailed

    vocab = work / "train" / "vocab.json"
    for strategy in matrix.strategies:
        if strategy in mut.records:
            continue
        out_dir = work / "models" / strategy
        mut.model_dirs[strategy] = out_dir
        try:
            if mut.name == "deeplog":
                converted = convert.convert_deeplog(mut.checkpoint, vocab, out_dir, exporter=strategy,
                                                    tolerance=tolerance_of(matrix))
            else:
                converted = convert.convert_mscred(mut.checkpoint, out_dir, exporter=strategy,
                                                   tolerance=tolerance_of(matrix))
            mut.records[strategy] = converted.record
        except ExportFailed as exc:
            mut.records[strategy] = exc.record
        except Exception as exc:  # noqa: BLE001
            mut.records[strategy] = None
            mut.errors[strategy] = f"{type(exc).__name__}: {probes.first_line(exc)} (root cause {probes.root_cause(exc)})"


# --- default_call ----------------------------------------------------------------------------


def _default_call(mut: ModelUnderTest, rec, work: Path) -> None:
    spec = mut.spec
    batch, length = spec.export_shape
    example = spec.make_input(batch, length, 0)
    other = spec.make_input(3, (length + 5) if length else None, 1)
    probe = probes.default_call(mut.torch_model, example, spec.input_name, spec.output_name, dict(spec.input_axes),
                                other, work / "probe" / f"{mut.name}_default_call.onnx")
    mut.default_call = probe
    messages = {
        "exception": f"{probe.exporter} exporter raised {probe.error_type}: {probe.error}",
        "frozen": f"{probe.exporter} exporter froze axes {probe.frozen_axes} (input dims {probe.input_dims})",
        "rejected_by_ort": f"ONNX Runtime refused shape {probe.other_shape}: {probe.other_shape_result}",
    }
    rec.add(mut.name, "default_call", probe.outcome == "ok", error=messages.get(probe.outcome),
            root=probe.root_cause, detail=probe.to_detail(), warnings=probe.warnings,
            seconds=round(probe.seconds, 3))


# --- the converter's strategies, read from their records ----------------------------------------


def _attempts(record) -> list[dict[str, Any]]:
    return [
        {"exporter": a.exporter, "call": a.call, "outcome": a.outcome, "stage": a.stage,
         "exception_type": a.exception_type, "error": a.error, "root_cause": a.root_cause,
         "seconds": round(a.seconds, 3), "opset": a.opset, "inputs": a.inputs, "frozen_axes": a.frozen_axes,
         "parity": a.parity, "typeerror_retry": a.typeerror_retry}
        for a in record.attempts
    ]


def _record_detail(record) -> dict[str, Any]:
    return {"strategy": record.strategy, "exporter": record.exporter, "reason": record.reason,
            "opset": record.opset, "inputs": record.inputs, "outputs": record.outputs,
            "op_types": record.op_types, "attempts": _attempts(record)}


def _record_export_failure(rec, model: str, check: str, record) -> None:
    last = record.attempts[-1] if record.attempts else None
    rec.add(model, check, False, error=f"{last.exporter} {last.outcome}: {last.error}" if last else "no attempt ran",
            root=last.root_cause if last else None, detail=_record_detail(record), warnings=record.warnings,
            seconds=round(record.seconds, 3))


def _record_of(mut: ModelUnderTest, strategy: str):
    record = mut.records.get(strategy)
    if record is None:
        raise AlogError(mut.errors.get(strategy, f"the {strategy} strategy was not run (not in [defaults].strategies)"))
    return record


def _strategy_export(mut: ModelUnderTest, rec, strategy: str, with_call: bool = False) -> None:
    """legacy_export / auto_export: the strategy produced an artifact that passed verification."""
    check = f"{strategy}_export"
    record = _record_of(mut, strategy)
    if not record.ok:
        return _record_export_failure(rec, mut.name, check, record)
    final = record.attempts[-1]
    detail = _record_detail(record)
    if with_call:
        detail["call"] = final.call
    rec.add(mut.name, check, True, detail=detail, figures={"seconds": round(record.seconds, 3), **final.parity},
            warnings=record.warnings, seconds=round(record.seconds, 3))


def _legacy_export(mut: ModelUnderTest, rec) -> None:
    _strategy_export(mut, rec, "legacy", with_call=True)


def _typeerror_fallback(mut: ModelUnderTest, rec) -> None:
    """The retry without ``dynamo=`` must happen exactly when this torch lacks the keyword."""
    record = _record_of(mut, "legacy")
    keyword = bool(record.exporter_signature.get("dynamo_keyword"))
    retried = any(a.typeerror_retry for a in record.attempts)
    detail = {"dynamo_keyword": keyword, "typeerror_retry": retried,
              "call": record.attempts[-1].call if record.attempts else None}
    if not record.ok:
        return rec.add(mut.name, "typeerror_fallback", False, detail=detail,
                       error=f"legacy export failed: {record.attempts[-1].error}",
                       root=record.attempts[-1].root_cause)
    consistent = retried == (not keyword)
    error = None if consistent else (
        "retried without dynamo= although torch accepts it" if retried else "no retry although torch lacks dynamo=")
    detail["verdict"] = ("TypeError on dynamo=False, retried without it" if retried
                         else "dynamo=False accepted, no retry needed")
    rec.add(mut.name, "typeerror_fallback", consistent, error=error, detail=detail)


def classify_dynamo(record) -> tuple[str, str | None]:
    """One line for the dynamo strategy's outcome: no keyword / exception at a stage / frozen / ok."""
    attempt = record.attempts[0] if record.attempts else None
    if attempt is None:
        return "not attempted", "the dynamo strategy made no attempt"
    if attempt.outcome == "ok":
        return "ok", None
    if attempt.outcome == "no_keyword":
        return "no keyword", attempt.error
    if attempt.outcome == "exception":
        return "exception", f"exception during {attempt.stage or 'export'}: {attempt.root_cause or attempt.error}"
    if attempt.outcome == "frozen_axes":
        return "exported, axes frozen", f"{attempt.error} (graph inputs: {attempt.inputs})"
    if attempt.outcome == "parity_failed":
        return "exported, parity failed", attempt.error
    return attempt.outcome, attempt.error


def _dynamo_export(mut: ModelUnderTest, rec, signature, work: Path) -> None:
    record = _record_of(mut, "dynamo")
    classification, message = classify_dynamo(record)
    detail = {**_record_detail(record), "classification": classification}
    if classification == "no keyword" and signature is not None and signature.has_dynamo_export:
        # torch 2.0-2.3: the only dynamo route is torch.onnx.dynamo_export; record what it does.
        detail["torch.onnx.dynamo_export"] = probes.dynamo_export_function(
            mut.torch_model, mut.spec.make_input(*mut.spec.export_shape, 0), work / "probe" / f"{mut.name}_dynamo_export.onnx")
    attempt = record.attempts[0] if record.attempts else None
    rec.add(mut.name, "dynamo_export", classification == "ok", error=message,
            root=attempt.root_cause if attempt else None, detail=detail,
            figures=dict(attempt.parity) if attempt else {},
            warnings=record.warnings, seconds=round(record.seconds, 3))


def _auto_export(mut: ModelUnderTest, rec) -> None:
    _strategy_export(mut, rec, "auto")


# --- dynamic_axes ----------------------------------------------------------------------------


def dynamic_shapes(mut: ModelUnderTest) -> list[tuple[int, int | None]]:
    _, length = mut.spec.export_shape
    if length is None:  # MSCRED: its step is part of the model, only the batch moves
        return [(b, None) for b in DYNAMIC_BATCHES]
    seq = mut.torch_model.config.seq_len
    lengths = sorted({1, length, 2 * length, 4 * length + 3, seq})
    return [(b, s) for b in DYNAMIC_BATCHES for s in lengths]


def final_artifact(mut: ModelUnderTest) -> tuple[str, Path] | None:
    """The artifact a user gets: auto's, or legacy's when auto produced none."""
    for strategy in ("auto", "legacy"):
        path = mut.artifact(strategy)
        if path is not None:
            return strategy, path
    return None


def _dynamic_axes(mut: ModelUnderTest, matrix: Matrix, rec, work: Path) -> None:
    from converter import graphinfo
    from converter.verification import compare_at_shapes, worst

    found = final_artifact(mut)
    if found is None:
        return rec.add(mut.name, "dynamic_axes", False, error="no artifact: neither auto nor legacy produced one")
    strategy, path = found
    spec = mut.spec
    started = time.perf_counter()
    info = graphinfo.describe(path)
    frozen = graphinfo.frozen_axes(info, spec.input_name, spec.input_axes)
    shapes = dynamic_shapes(mut)
    comparisons = compare_at_shapes(mut.torch_model, path, spec, shapes, tolerance_of(matrix))
    failed = [c for c in comparisons if not c]
    detail = {"artifact": strategy, "input_dims": info["inputs"].get(spec.input_name), "frozen_axes": frozen,
              "shapes": [[b, s] for b, s in shapes],
              "per_shape": [{"name": c.name, "ok": bool(c), "max_abs_error": c.max_abs_error, "problem": c.problem}
                            for c in comparisons]}
    error = None
    repro = None
    if frozen:
        error = "graph input axes are fixed: " + ", ".join(f"{k}={v}" for k, v in frozen.items())
    elif failed:
        error = f"{len(failed)} of {len(comparisons)} shapes failed: {failed[0].describe()}"
    if error and failed:
        repro = str(_repro_bundle(mut, path, failed[0], work))
    rec.add(mut.name, "dynamic_axes", not frozen and not failed, error=error, detail=detail,
            figures={**worst(comparisons), "examples": len(comparisons)}, repro=repro,
            seconds=round(time.perf_counter() - started, 3))


def _repro_bundle(mut: ModelUnderTest, artifact: Path, comparison, work: Path) -> Path:
    """Artifact + failing input + the command that shows the failure, in one folder."""
    import numpy as np

    shape = comparison.name.split("[", 1)[1].rstrip("]").split(",")
    dims = [int(x) for x in shape]
    bundle = work / "repro" / f"{mut.name}-dynamic_axes"
    shutil.rmtree(bundle, ignore_errors=True)
    bundle.mkdir(parents=True)
    shutil.copy2(artifact, bundle / artifact.name)
    x = mut.spec.make_input(dims[0], dims[1] if len(dims) == 2 else None, 0)
    np.save(bundle / "input.npy", x.numpy())
    (bundle / "README.txt").write_text(
        f"{comparison.describe()}\n\nReproduce:\n  python -c \"import numpy as np, onnxruntime as ort; "
        f"s = ort.InferenceSession('{artifact.name}'); print(s.run(None, {{'{mut.spec.input_name}': np.load('input.npy')}})[0].shape)\"\n",
        encoding="utf-8")
    return bundle


# --- parity (the parity suite, run in this cell against this cell's artifacts) ----------------


def parity_suite_present() -> bool:
    """The parity suite registers pytest's --artifacts option in a conftest.py."""
    return any('"--artifacts"' in p.read_text(encoding="utf-8", errors="replace")
               for p in (ROOT / "tests").rglob("conftest.py"))


def artifact_set(trained: list[ModelUnderTest], work: Path) -> Path:
    """This cell's artifacts in the parity suite's --artifacts layout (links, no copies):
    checkpoints, training vocab, the replayed log, and one model directory per strategy."""
    target = work / "artifacts"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    train = work / "train"
    (target / "vocab.json").symlink_to(train / "vocab.json")
    for mut in trained:
        (target / mut.checkpoint.name).symlink_to(mut.checkpoint)
        if mut.log is not None and not (target / "replay.log").exists():
            (target / "replay.log").symlink_to(mut.log)
    strategies = {s for mut in trained for s in mut.model_dirs if mut.artifact(s) is not None}
    for strategy in sorted(strategies):
        (target / strategy).symlink_to(work / "models" / strategy)
    return target


def _parity(trained: list[ModelUnderTest], matrix: Matrix, rec, work: Path) -> None:
    """The parity suite, once for the cell, on this cell's artifacts; its figures split per model."""
    import json

    started = time.perf_counter()
    try:
        artifacts_dir = artifact_set(trained, work)
    except Exception as exc:  # noqa: BLE001
        for mut in trained:
            rec.add_error(mut.name, "parity", exc)
        return
    figures_path = work / "parity" / "figures.json"
    figures_path.unlink(missing_ok=True)
    tol = tolerance_of(matrix)
    # Random-weight shapes are exported here with each strategy that produced an artifact in this cell;
    # auto's file is dynamo's or legacy's, so exporting it again would only repeat those (its trained
    # artifact is still checked under its own label).
    made = [s for s in ("legacy", "dynamo", "auto") if (artifacts_dir / s).exists()]
    random_strategies = [s for s in made if s != "auto"] or made
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "parity", str(ROOT / "tests" / "parity"),
           "--artifacts", str(artifacts_dir), "--parity-report", str(figures_path),
           "--parity-repro-dir", str(work / "repro" / "parity"), "--parity-strategies", ",".join(random_strategies),
           "--parity-tolerance", f"atol={tol.atol},rtol={tol.rtol},max_outlier_fraction={tol.max_outlier_fraction}"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=PARITY_TIMEOUT_S,
                          env={**os.environ, "ALOG_PARITY_PROFILE": os.environ.get("ALOG_PARITY_PROFILE", "ci")})
    seconds = round(time.perf_counter() - started, 3)
    lines = [ln for ln in (proc.stdout + proc.stderr).strip().splitlines() if ln.strip()]
    summary = lines[-1] if lines else f"exit code {proc.returncode}"
    command = " ".join(["python", *cmd[1:]])
    if proc.returncode not in (0, 1) or not figures_path.is_file():  # usage error, internal error, nothing ran
        for mut in trained:
            rec.add(mut.name, "parity", False, error=f"the parity suite did not run (exit {proc.returncode}): {summary}",
                    detail={"command": command, "output_tail": "\n".join(lines[-15:])}, seconds=seconds)
        return
    doc = json.loads(figures_path.read_text(encoding="utf-8"))
    tests = doc.get("tests", [])
    selfcheck_failed = [t for t in tests if doc.get("by_model", {}).get("selfcheck") and t["model"] not in MODEL_NAMES
                        and t.get("outcome") == "failed"]
    for mut in trained:
        mine = [t for t in tests if t["model"] == mut.name]
        failed = [t for t in mine if t.get("outcome") == "failed"] + selfcheck_failed
        ran = [t for t in mine if t.get("outcome") == "passed" or t.get("outcome") == "failed"]
        totals = doc.get("by_model", {}).get(mut.name, {})
        figures = {k: totals.get(k) for k in ("examples", "elements", "max_abs_error", "max_rel_error", "outliers",
                                               "rows", "ties", "failures") if k in totals}
        figures["tests"] = len(mine)
        error = None
        if failed:
            first = failed[0]
            error = f"{len(failed)} parity test(s) failed, first {first['test']}: {first.get('first_failure')}"
        elif not ran:
            error = f"no parity test ran for {mut.name} ({summary})"
        repro = next((t.get("repro") for t in failed if t.get("repro")), None)
        rec.add(mut.name, "parity", not failed and bool(ran), error=error, figures=figures, repro=repro,
                detail={"command": command, "summary": summary, "figures_json": str(figures_path),
                        "tests": [{"test": t["test"], "check": t["check"], "exporter": t.get("exporter"),
                                   "outcome": t.get("outcome"), "examples": t.get("examples"),
                                   "max_abs_error": t.get("max_abs_error")} for t in mine]},
                seconds=seconds)


# --- cengine ---------------------------------------------------------------------------------


def engine_binary() -> Path:
    """The engine the orchestrator built once (ALOG_CENGINE_BIN), else build or reuse it here."""
    from harness import cengine

    failed = os.environ.get(ENGINE_ERROR_ENV)
    if failed:
        raise AlogError(f"the C engine could not be built: {failed}")
    given = os.environ.get(ENGINE_ENV)
    if given:
        if not Path(given).is_file():
            raise AlogError(f"{ENGINE_ENV}={given} does not exist (did the engine build fail?)")
        return Path(given)
    return cengine.ensure_built()


def engine_inputs(mut: ModelUnderTest) -> list[tuple[int, int | None]]:
    _, length = mut.spec.export_shape
    if length is None:
        return [(1, None), (7, None)]
    return [(1, length), (7, 2 * length), (64, 4 * length + 3)]


def _cengine(mut: ModelUnderTest, matrix: Matrix, rec, work: Path) -> None:
    """The C engine on this cell's artifact, against this cell's ONNX Runtime library:
    outputs vs ORT from Python, and (DeepLog) detection verdicts vs the Python reference detector."""
    from converter.compare import compare
    from converter.verification import ort_session
    from harness import cengine

    found = final_artifact(mut)
    if found is None:
        return rec.add(mut.name, "cengine", False, error="no artifact: neither auto nor legacy produced one")
    strategy, path = found
    started = time.perf_counter()
    binary = engine_binary()
    ort_lib = cengine.default_ort_lib()
    session = ort_session(path)
    tolerance = tolerance_of(matrix)
    comparisons = []
    for seed, (batch, length) in enumerate(engine_inputs(mut), start=11):
        x = mut.spec.make_input(batch, length, seed).numpy()
        expected = session.run([mut.spec.output_name], {mut.spec.input_name: x})[0]
        actual = cengine.run_parity(path, x, ort_lib=ort_lib, binary=binary)
        comparisons.append(compare(expected, actual, tolerance, f"engine vs ORT at {list(x.shape)}"))
    failed = [c for c in comparisons if not c]
    figures: dict[str, Any] = {
        "max_abs_error": max(c.max_abs_error for c in comparisons),
        "max_rel_error": max(c.max_rel_error for c in comparisons),
        "examples": len(comparisons),
    }
    detail: dict[str, Any] = {"artifact": strategy, "ort_lib": str(ort_lib), "engine": str(binary)}
    errors = [f"{len(failed)} of {len(comparisons)} inputs differ: {failed[0].describe()}"] if failed else []
    if mut.name == "deeplog":
        agreement = _detection_agreement(path.parent, mut.log, ort_lib, binary)
        figures.update({k: agreement[k] for k in ("lines", "disagreements", "anomalies_engine", "anomalies_reference")})
        detail["detection"] = agreement
        if agreement["disagreements"]:
            errors.append(f"detection differs from the Python reference on {agreement['disagreements']} of "
                          f"{agreement['lines']} lines, first: {agreement['first_difference']}")
    rec.add(mut.name, "cengine", not errors, error="; ".join(errors) or None, figures=figures, detail=detail,
            seconds=round(time.perf_counter() - started, 3))


def _detection_agreement(model_dir: Path, log: Path, ort_lib: Path, binary: Path) -> dict[str, Any]:
    from converter import detection
    from harness import cengine

    engine = cengine.run_detect(model_dir, log, ort_lib=ort_lib, binary=binary)
    reference = detection.detect_file(log, model_dir)
    keys = ("line", "verdict", "reason", "template", "rank")
    differ = [(e, r) for e, r in zip(engine, reference) if {k: e.get(k) for k in keys} != {k: r.get(k) for k in keys}]
    return {
        "log": log.name,
        "lines": len(reference),
        "engine_lines": len(engine),
        "disagreements": len(differ) + abs(len(engine) - len(reference)),
        "anomalies_engine": sum(1 for e in engine if e.get("verdict") == "anomaly"),
        "anomalies_reference": sum(1 for r in reference if r.get("verdict") == "anomaly"),
        "first_difference": {"engine": differ[0][0], "reference": differ[0][1]} if differ else None,
    }


# --- warnings --------------------------------------------------------------------------------


def collected_warnings(mut: ModelUnderTest) -> list[dict[str, str]]:
    seen, out = set(), []
    sources: list[tuple[str, list[dict[str, str]]]] = []
    if mut.default_call is not None:
        sources.append(("default_call", mut.default_call.warnings))
    for strategy, record in mut.records.items():
        if record is not None:
            sources += [(f"{strategy}:{a.exporter}", a.warnings) for a in record.attempts]
    for source, items in sources:
        for w in items:
            key = (w["category"], w["message"])
            if key not in seen:
                seen.add(key)
                out.append({"category": w["category"], "message": w["message"][:1000], "source": source})
    return out


def _warnings(mut: ModelUnderTest, matrix: Matrix, rec) -> None:
    allowed = [re.compile(p, re.S) for p in matrix.warnings_allowed]
    found = collected_warnings(mut)
    unexpected = [w for w in found if not any(p.search(f"{w['category']}: {w['message']}") for p in allowed)]
    error = None
    if unexpected:
        w = unexpected[0]
        error = f"{len(unexpected)} warning(s) not in [warnings].allow, first: {w['category']}: {w['message'].splitlines()[0][:200]}"
    rec.add(mut.name, "warnings", not unexpected, error=error, warnings=found,
            detail={"unexpected": unexpected, "total": len(found)}, figures={"warnings": len(found), "unexpected": len(unexpected)})
