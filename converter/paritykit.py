"""Parity machinery: PyTorch next to ONNX Runtime, example by example, with figures and repro bundles.

Used by the parity suite (tests/parity), the parity benchmark and anyone replaying a failure:

- ``SessionCache``: one ONNX Runtime session per artifact file, reused by every example.
- ``Subject``: a PyTorch model and the ONNX file exported from it, run side by side.
- ``check_parity`` / ``check_topg``: compare under the one tolerance policy (converter.compare);
  on failure write a reproduction bundle and raise ``ParityFailure`` (an AssertionError) whose
  message names the output, the shape, the error figures and the bundle path.
- ``FiguresRecorder``: examples tried, max abs / rel error, outliers, ties and failures per test,
  written as one JSON document (atomically).
- ``discover_artifacts``: the ``--artifacts DIR`` layout (artifacts made in another environment).
- ``python -m converter.paritykit replay BUNDLE``: rerun a bundle's input through its model.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from converter import artifacts, atomic, checkpoint, versions
from converter.compare import DEFAULT_TOLERANCE, Comparison, Tolerance, compare
from converter.errors import AlogError

FIGURES_FORMAT = "alog-parity-figures"
# Checks of the parity machinery itself: they break artifacts on purpose and expect the failure.
SELF_CHECKS = frozenset({"broken_artifact", "single_outlier", "near_zero"})
FIGURES_FORMAT_VERSION = 1
BUNDLE_FORMAT = "alog-parity-repro"
DEFAULT_THREADS = 1  # one intra-op thread on each side: deterministic and fair on a shared machine


# --------------------------------------------------------------------------- sessions


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


class SessionCache:
    """ONNX Runtime sessions keyed by artifact path (and its size and mtime, so a rewritten file reloads)."""

    def __init__(self, threads: int = DEFAULT_THREADS):
        self.threads = threads
        self._sessions: dict[tuple, Any] = {}
        self.created = 0
        self.reused = 0

    @staticmethod
    def _key(path: str | Path) -> tuple:
        path = Path(path).resolve()
        stat = path.stat()
        return str(path), stat.st_size, stat.st_mtime_ns

    def get(self, path: str | Path):
        key = self._key(path)
        session = self._sessions.get(key)
        if session is None:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
            options.log_severity_level = 3
            try:
                session = ort.InferenceSession(key[0], options, providers=["CPUExecutionProvider"])
            except Exception as exc:  # noqa: BLE001 - ORT raises its own types; one line for the user
                raise AlogError(f"ONNX Runtime cannot load {path}: {_first_line(exc)}") from None
            self._sessions[key] = session
            self.created += 1
        else:
            self.reused += 1
        return session

    def predictor(self, path: str | Path, input_name: str, output_name: str, factory):
        """A predict callable built once per artifact by ``factory(path, input_name, output_name)``."""
        key = ("predict", *self._key(path), input_name, output_name)
        if key not in self._sessions:
            self._sessions[key] = factory(path, input_name, output_name, threads=self.threads)
            self.created += 1
        else:
            self.reused += 1
        return self._sessions[key]

    def __len__(self) -> int:
        return len(self._sessions)

    def stats(self) -> dict[str, int]:
        return {"sessions": len(self._sessions), "created": self.created, "reused": self.reused,
                "intra_op_threads": self.threads}


# --------------------------------------------------------------------------- subjects


@dataclass
class Subject:
    """A PyTorch model and its ONNX export, to be run side by side."""

    label: str  # e.g. "HDFS/dynamo" or "deeplog-v30-h64-l2-e16/legacy"
    model_type: str  # deeplog | mscred
    model: torch.nn.Module
    onnx_path: Path
    checkpoint: Path | None = None  # the PyTorch weights, for the repro bundle
    input_name: str = ""
    output_name: str = ""
    exporter: str | None = None  # from the meta's export record, when there is one
    made_by_torch: str | None = None

    def __post_init__(self) -> None:
        self.onnx_path = Path(self.onnx_path)
        if not self.input_name:
            self.input_name = artifacts.DEEPLOG_INPUT if self.model_type == "deeplog" else artifacts.MSCRED_INPUT
        if not self.output_name:
            self.output_name = artifacts.DEEPLOG_OUTPUT if self.model_type == "deeplog" else artifacts.MSCRED_OUTPUT
        self.model.eval()

    def torch_output(self, x: np.ndarray) -> np.ndarray:
        # inference_mode: no_grad without version-counter bookkeeping (torch >= 1.9, every torch we support)
        with torch.inference_mode():
            return self.model(torch.from_numpy(np.ascontiguousarray(x))).numpy()

    def ort_output(self, x: np.ndarray, sessions: SessionCache) -> np.ndarray:
        session = sessions.get(self.onnx_path)
        return session.run([self.output_name], {self.input_name: np.ascontiguousarray(x)})[0]

    def describe(self) -> dict[str, Any]:
        return {"label": self.label, "model_type": self.model_type, "onnx": str(self.onnx_path),
                "checkpoint": str(self.checkpoint) if self.checkpoint else None, "exporter": self.exporter,
                "made_by_torch": self.made_by_torch}


def read_meta(onnx_path: str | Path) -> dict[str, Any]:
    meta_path = artifacts.meta_path(Path(onnx_path))
    if not meta_path.is_file():
        return {}
    try:
        return json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AlogError(f"cannot read {meta_path}: {exc}") from None


def subject_from_files(label: str, model_type: str, checkpoint_path: str | Path, onnx_path: str | Path) -> Subject:
    """A subject from a checkpoint and the ONNX file converted from it (the meta says who exported it)."""
    model, _ = checkpoint.load(checkpoint_path, model_type)
    meta = read_meta(onnx_path)
    export = meta.get("export") or {}
    return Subject(label, model_type, model, Path(onnx_path), Path(checkpoint_path),
                   meta.get("input_name", ""), meta.get("output_name", ""), export.get("exporter"),
                   (meta.get("versions") or {}).get("torch"))


# --------------------------------------------------------------------------- figures


@dataclass
class Figures:
    """What one parity test saw, over all its examples."""

    test: str
    model: str
    check: str  # numeric | topg | verdicts | setup, or one of SELF_CHECKS (checks of the checker)
    subject: str | None = None
    exporter: str | None = None
    made_by_torch: str | None = None
    examples: int = 0  # examples tried (hypothesis examples, shrinking included)
    elements: int = 0  # output elements compared
    max_abs_error: float = 0.0
    max_rel_error: float = 0.0
    p999_abs_error: float = 0.0  # worst per-example 99.9th percentile
    outliers: int = 0  # elements outside atol + rtol*|expected|, summed over examples
    examples_with_outliers: int = 0
    rows: int = 0  # top-g / verdict checks: rows (windows or lines) decided
    ties: int = 0  # rows whose decision sits on a tie within tolerance: neither pass nor fail
    failures: int = 0  # failing examples (each shrink step that fails counts)
    first_failure: str | None = None
    repro: str | None = None  # the latest bundle written (the shrunk example, after hypothesis)
    outcome: str | None = None  # pytest's: passed | failed | skipped (filled in at the end)
    seconds: float = 0.0
    notes: dict[str, Any] = field(default_factory=dict)

    def add(self, comparison: Comparison) -> None:
        self.examples += 1
        self.elements += comparison.elements
        if comparison.problem:
            return
        self.max_abs_error = max(self.max_abs_error, comparison.max_abs_error)
        self.max_rel_error = max(self.max_rel_error, comparison.max_rel_error)
        self.p999_abs_error = max(self.p999_abs_error, comparison.p999_abs_error)
        self.outliers += comparison.outliers
        self.examples_with_outliers += int(comparison.outliers > 0)

    def fail(self, message: str, bundle: Path | None) -> None:
        self.failures += 1
        self.first_failure = self.first_failure or message
        if bundle is not None:
            self.repro = str(bundle)


class FiguresRecorder:
    """Figures per test node id, written as one JSON document at the end of a run."""

    def __init__(self, tolerance: Tolerance = DEFAULT_TOLERANCE):
        self.tolerance = tolerance
        self.entries: dict[str, Figures] = {}
        self.started = time.time()

    def entry(self, test: str, model: str, check: str, subject: Subject | None = None) -> Figures:
        figures = self.entries.get(test)
        if figures is None:
            figures = self.entries[test] = Figures(test, model, check)
        if subject is not None:
            figures.subject, figures.exporter, figures.made_by_torch = (
                subject.label, subject.exporter, subject.made_by_torch)
        return figures

    def summary(self) -> dict[str, Any]:
        """Totals per model over the real checks; the suite's self-checks (which break artifacts on
        purpose) are summed apart so their deliberate errors never count as the model's figures."""
        by_model: dict[str, dict[str, Any]] = {}
        for f in self.entries.values():
            key = "selfcheck" if f.check in SELF_CHECKS else f.model
            m = by_model.setdefault(key, {"tests": 0, "passed": 0, "failed": 0, "examples": 0, "elements": 0,
                                          "max_abs_error": 0.0, "max_rel_error": 0.0, "outliers": 0,
                                          "rows": 0, "ties": 0, "failures": 0, "repro": []})
            m["tests"] += 1
            m["passed"] += int(f.outcome == "passed")
            m["failed"] += int(f.outcome != "passed")
            for name in ("examples", "elements", "outliers", "rows", "ties", "failures"):
                m[name] += getattr(f, name)
            m["max_abs_error"] = max(m["max_abs_error"], f.max_abs_error)
            m["max_rel_error"] = max(m["max_rel_error"], f.max_rel_error)
            if f.repro:
                m["repro"].append(f.repro)
        return by_model

    def document(self, **extra: Any) -> dict[str, Any]:
        return {
            "format": FIGURES_FORMAT,
            "format_version": FIGURES_FORMAT_VERSION,
            "environment": versions.environment(),
            "tolerance": asdict(self.tolerance),
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
            "seconds": round(time.time() - self.started, 3),
            **extra,
            "by_model": self.summary(),
            "tests": [asdict(f) for f in self.entries.values()],
        }

    def write(self, path: str | Path, **extra: Any) -> Path:
        path = Path(path)
        atomic.write_json(path, self.document(**extra))
        return path


# --------------------------------------------------------------------------- repro bundles


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:150] or "bundle"


REPLAY_README = """# Parity reproduction bundle

{message}

- `model.onnx`: the artifact under test{meta_line}
- `model.pth`: the PyTorch weights (alog-detect checkpoint){pth_note}
- `input.npy`: the failing input (`{input_name}`, shape {input_shape}, {input_dtype})
- `expected.npy`: PyTorch's `{output_name}`; `actual.npy`: ONNX Runtime's
- `bundle.json`: tolerance, figures and the environment that failed

Replay (exit 1 while the failure reproduces, 0 once it is gone):

    python -m converter.paritykit replay {path}

Made with torch {torch}, onnxruntime {onnxruntime}, by the test `{test}`.
"""


def write_bundle(root: str | Path, name: str, subject: Subject, x: np.ndarray, expected: np.ndarray,
                 actual: np.ndarray | None, tolerance: Tolerance, message: str, kind: str = "numeric",
                 details: dict[str, Any] | None = None, test: str = "") -> Path:
    """Write a bundle to ``root/name`` atomically: built in a temporary folder, then renamed into place."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    target = root / _safe_name(name)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=root))
    try:
        shutil.copyfile(subject.onnx_path, work / "model.onnx")
        meta = artifacts.meta_path(subject.onnx_path)
        if meta.is_file():
            shutil.copyfile(meta, work / "model.onnx.meta.json")
        if subject.checkpoint is not None:
            shutil.copyfile(subject.checkpoint, work / "model.pth")
        np.save(work / "input.npy", x)
        np.save(work / "expected.npy", expected)
        if actual is not None:
            np.save(work / "actual.npy", actual)
        env = versions.environment()
        document = {
            "format": BUNDLE_FORMAT, "format_version": 1, "kind": kind, "test": test,
            "model_type": subject.model_type, "input_name": subject.input_name, "output_name": subject.output_name,
            "subject": subject.describe(), "tolerance": asdict(tolerance), "message": message,
            "details": details or {}, "environment": env,
            "command": f"python -m converter.paritykit replay {target}",
        }
        atomic.write_json(work / "bundle.json", document)
        atomic.write_text(work / "README.md", REPLAY_README.format(
            message=message, path=target, input_name=subject.input_name, output_name=subject.output_name,
            input_shape=list(x.shape), input_dtype=x.dtype, torch=env.get("torch"),
            onnxruntime=env.get("onnxruntime"), test=test or "-",
            meta_line=" (and its meta)" if meta.is_file() else "",
            pth_note="" if subject.checkpoint else " -- absent: replay compares with expected.npy"))
        old = None
        if target.exists():
            old = root / f".{target.name}.old-{os.getpid()}-{time.monotonic_ns()}"
            os.replace(target, old)
        os.replace(work, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return target


# --------------------------------------------------------------------------- checks


class ParityFailure(AssertionError):
    """PyTorch and ONNX Runtime disagree; the message names output, shape, figures and repro bundle."""

    def __init__(self, message: str, bundle: Path | None, comparison: Comparison | None = None):
        super().__init__(message)
        self.bundle = bundle
        self.comparison = comparison


@dataclass
class ParityContext:
    """What every check needs besides the example: sessions, tolerance, where bundles go, figures."""

    sessions: SessionCache
    tolerance: Tolerance = DEFAULT_TOLERANCE
    repro_dir: Path = Path("reports/repro")
    figures: Figures | None = None
    test: str = ""

    def bundle_name(self, subject: Subject) -> str:
        return f"{self.test.split('::')[-1] or 'parity'}--{subject.label}"


def _ort_or_problem(subject: Subject, x: np.ndarray, ctx: ParityContext) -> tuple[np.ndarray | None, str | None]:
    try:
        return subject.ort_output(x, ctx.sessions), None
    except AlogError:
        raise
    except Exception as exc:  # noqa: BLE001 - ORT refusing an input is a parity failure, with its reason
        return None, f"ONNX Runtime failed: {_first_line(exc)}"


def compare_outputs(subject: Subject, x: np.ndarray, expected: np.ndarray, actual: np.ndarray | None,
                    problem: str | None, tolerance: Tolerance) -> Comparison:
    name = f"output {subject.output_name!r} of {subject.label} for {subject.input_name}{list(x.shape)}"
    if actual is None:
        comparison = compare(expected, np.empty((0,)), tolerance, name)
        comparison.problem = problem
        return comparison
    return compare(expected, actual, tolerance, name)


def record_failure(ctx: ParityContext, subject: Subject, x, expected, actual, headline: str, kind: str,
                   details: dict[str, Any] | None = None, comparison: Comparison | None = None) -> ParityFailure:
    """Write the repro bundle, count the failure, and return the ParityFailure to raise."""
    bundle = write_bundle(ctx.repro_dir, ctx.bundle_name(subject), subject, x, expected, actual, ctx.tolerance,
                          headline, kind, details, ctx.test)
    message = f"{headline}; repro bundle: {bundle} (replay: python -m converter.paritykit replay {bundle})"
    if ctx.figures is not None:
        ctx.figures.fail(message, bundle)
    return ParityFailure(message, bundle, comparison)


def check_parity(subject: Subject, x: np.ndarray, ctx: ParityContext) -> Comparison:
    """Run ``x`` through PyTorch and ONNX Runtime and compare; raise ParityFailure when they disagree."""
    expected = subject.torch_output(x)
    actual, problem = _ort_or_problem(subject, x, ctx)
    comparison = compare_outputs(subject, x, expected, actual, problem, ctx.tolerance)
    if ctx.figures is not None:
        ctx.figures.add(comparison)
    if not comparison:
        raise record_failure(ctx, subject, x, expected, actual, f"parity failed: {comparison.describe()}",
                             "numeric", {"comparison": comparison.figures()}, comparison)
    return comparison


# ----- decision parity: DeepLog's top-g candidate sets


def _allowed(values: np.ndarray, tolerance: Tolerance) -> np.ndarray:
    return tolerance.atol + tolerance.rtol * np.abs(values)


def _top(logits: np.ndarray, g: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the top-g index set (ties broken by lower index, like the detector) and the sorted logits."""
    order = np.lexsort((np.broadcast_to(np.arange(logits.shape[1]), logits.shape), -logits), axis=1)
    return order[:, :g], np.take_along_axis(logits, order, axis=1)


@dataclass
class TopGOutcome:
    rows: int
    agree: int
    ties: int
    trivial: bool  # vocab <= g: every index is a candidate, nothing to decide
    disagreements: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.disagreements


def boundary_ties(sorted_logits: np.ndarray, g: int, tolerance: Tolerance) -> np.ndarray:
    """Rows whose g-th and (g+1)-th logits are closer than two outputs may differ under the policy.

    Each output may move by atol + rtol*|value|; two logits that close can swap places between
    PyTorch and ONNX Runtime without either being wrong, so such a row is a tie, not a verdict.
    """
    inside, outside = sorted_logits[:, g - 1], sorted_logits[:, g]
    return (inside - outside) <= _allowed(inside, tolerance) + _allowed(outside, tolerance)


def topg_decisions(expected: np.ndarray, actual: np.ndarray, g: int, tolerance: Tolerance) -> TopGOutcome:
    rows, vocab = expected.shape
    if g >= vocab:
        return TopGOutcome(rows, rows, 0, True)
    exp_set, exp_sorted = _top(expected.astype(np.float64), g)
    act_set, act_sorted = _top(actual.astype(np.float64), g)
    ties = boundary_ties(exp_sorted, g, tolerance) | boundary_ties(act_sorted, g, tolerance)
    same = np.all(np.sort(exp_set, axis=1) == np.sort(act_set, axis=1), axis=1)
    disagreements = []
    for row in np.flatnonzero(~same & ~ties):
        only_torch = sorted(set(exp_set[row].tolist()) - set(act_set[row].tolist()))
        only_ort = sorted(set(act_set[row].tolist()) - set(exp_set[row].tolist()))
        disagreements.append({"row": int(row), "only_torch": only_torch, "only_ort": only_ort,
                              "torch_boundary_gap": float(exp_sorted[row, g - 1] - exp_sorted[row, g]),
                              "ort_boundary_gap": float(act_sorted[row, g - 1] - act_sorted[row, g])})
    return TopGOutcome(rows, int(np.sum(same & ~ties)), int(ties.sum()), False, disagreements)


def check_topg(subject: Subject, x: np.ndarray, g: int, ctx: ParityContext) -> TopGOutcome:
    """DeepLog's decision: the top-g candidate set of every row must be the same in both runtimes."""
    expected = subject.torch_output(x)
    actual, problem = _ort_or_problem(subject, x, ctx)
    comparison = compare_outputs(subject, x, expected, actual, problem, ctx.tolerance)
    if ctx.figures is not None:
        ctx.figures.add(comparison)
    if actual is None or comparison.problem:
        raise record_failure(ctx, subject, x, expected, actual, f"top-{g} parity failed: {comparison.describe()}",
                             "topg", {"top_g": g}, comparison)
    outcome = topg_decisions(expected, actual, g, ctx.tolerance)
    if ctx.figures is not None:
        ctx.figures.rows += outcome.rows
        ctx.figures.ties += outcome.ties
        ctx.figures.notes["trivial_examples"] = ctx.figures.notes.get("trivial_examples", 0) + int(outcome.trivial)
    if not outcome.ok:
        first = outcome.disagreements[0]
        headline = (f"top-{g} parity failed: output {subject.output_name!r} of {subject.label} shape "
                    f"{list(expected.shape)} for {subject.input_name}{list(x.shape)}: candidate sets differ in "
                    f"{len(outcome.disagreements)} of {outcome.rows} rows ({outcome.ties} ties); row {first['row']}: "
                    f"only PyTorch {first['only_torch']}, only ONNX Runtime {first['only_ort']}, boundary gap "
                    f"{first['torch_boundary_gap']:.3g} vs {first['ort_boundary_gap']:.3g}; "
                    f"{comparison.describe()}")
        raise record_failure(ctx, subject, x, expected, actual, headline, "topg",
                             {"top_g": g, "disagreements": outcome.disagreements[:20]}, comparison)
    return outcome


# ----- decision parity: anomaly verdicts over a whole log (converter.detection, both runtimes)

VERDICT_KEYS = ("line", "template", "verdict", "reason")


def _recording(predict):
    calls: list[tuple[np.ndarray, np.ndarray]] = []

    def wrapped(x: np.ndarray) -> np.ndarray:
        out = np.asarray(predict(x))
        calls.append((np.array(x), np.array(out)))
        return out

    return wrapped, calls


def key_on_boundary_tie(logits: np.ndarray, key: int, g: int, tolerance: Tolerance) -> bool:
    """Is ``key``'s logit within tolerance of the logit just across the top-g boundary from it?"""
    if not 1 <= g < logits.shape[0]:
        return False
    top, ordered = _top(logits[None, :].astype(np.float64), logits.shape[0])
    rank = int(np.flatnonzero(top[0] == key)[0])
    return rank in (g - 1, g) and bool(boundary_ties(ordered, g, tolerance)[0])


@dataclass
class VerdictOutcome:
    verdicts: int
    windows: int
    anomalies: int
    ties: int  # verdicts whose template sits on a tie at the top-g boundary (in either runtime)
    rank_differences: int
    comparison: Comparison


def check_verdicts(subject: Subject, lines: list[str], engine_vocab: dict[int, str], header_fields: int,
                   seq_len: int, top_g: int, ort_predict, ctx: ParityContext) -> VerdictOutcome:
    """Replay ``lines`` through converter.detection with a PyTorch predictor and with ``ort_predict``
    (ONNX Runtime): the verdicts must agree line for line, except flips on a tie at the g boundary."""
    from converter.detection import detect_lines

    torch_predict, torch_calls = _recording(subject.torch_output)
    ort_recorded, ort_calls = _recording(ort_predict)
    settings = (engine_vocab, header_fields, seq_len, top_g)
    by_torch = detect_lines(lines, *settings, torch_predict)
    by_ort = detect_lines(lines, *settings, ort_recorded)
    empty = np.zeros((0, 1), np.float32)
    windows = np.concatenate([x for x, _ in torch_calls]) if torch_calls else np.zeros((0, seq_len), np.int64)
    expected = np.concatenate([y for _, y in torch_calls]) if torch_calls else empty
    actual = np.concatenate([y for _, y in ort_calls]) if ort_calls else empty
    comparison = compare(expected, actual, ctx.tolerance,
                         f"output {subject.output_name!r} of {subject.label} over {len(windows)} windows")
    if ctx.figures is not None:
        ctx.figures.add(comparison)
    if len(by_torch) != len(by_ort):
        raise record_failure(ctx, subject, windows, expected, actual, f"verdict parity failed: {len(by_torch)} "
                             f"verdicts with PyTorch, {len(by_ort)} with ONNX Runtime", "topg", {"top_g": top_g})
    window_of: dict[int, int] = {}  # verdict position -> window row (verdicts with a rank came from a window)
    for position, record in enumerate(by_torch):
        if record["rank"] is not None:
            window_of[position] = len(window_of)
    ties, rank_moves, flips = 0, 0, []
    for position, (a, b) in enumerate(zip(by_torch, by_ort)):
        row = window_of.get(position)
        tie = row is not None and row < len(actual) and (
            key_on_boundary_tie(expected[row], a["template"], top_g, ctx.tolerance)
            or key_on_boundary_tie(actual[row], a["template"], top_g, ctx.tolerance))
        ties += int(tie)
        rank_moves += int(a["rank"] != b["rank"])
        if not tie and any(a[k] != b[k] for k in VERDICT_KEYS):
            flips.append((row, a, b))
    outcome = VerdictOutcome(len(by_torch), len(windows), sum(r["verdict"] == "anomaly" for r in by_torch), ties,
                             rank_moves, comparison)
    if ctx.figures is not None:
        ctx.figures.rows += outcome.verdicts
        ctx.figures.ties += ties
        ctx.figures.notes.update({"lines": len(lines), "verdicts": outcome.verdicts, "windows": outcome.windows,
                                  "anomalies": outcome.anomalies, "rank_differences": rank_moves, "top_g": top_g})
    if flips:
        row, a, b = flips[0]
        part = slice(row, row + 1) if row is not None else slice(0, 0)
        headline = (f"verdict parity failed: {len(flips)} of {len(by_torch)} verdicts differ between PyTorch and "
                    f"ONNX Runtime for {subject.label} (top-{top_g}, {ties} ties); first at line {a['line']}: "
                    f"PyTorch {a['verdict']} ({a['reason']}, rank {a['rank']}) vs ONNX Runtime {b['verdict']} "
                    f"({b['reason']}, rank {b['rank']}); {comparison.describe()}")
        raise record_failure(ctx, subject, windows[part], expected[part], actual[part], headline, "topg",
                             {"top_g": top_g, "line": a["line"], "torch": a, "ort": b}, comparison)
    if not comparison:  # the verdicts agree, but the logits behind them do not
        row = comparison.worst_index[0] if comparison.worst_index else 0
        raise record_failure(ctx, subject, windows[row:row + 1], expected[row:row + 1], actual[row:row + 1],
                             f"parity failed while replaying the log: {comparison.describe()}", "numeric",
                             {"comparison": comparison.figures()}, comparison)
    return outcome


# ----- batched examples (benchmark, sweeps): one torch and one ORT call per input shape


def check_parity_many(subject: Subject, inputs: list[np.ndarray], ctx: ParityContext) -> list[Comparison]:
    """Like check_parity for many examples, concatenating those of the same trailing shape along batch."""
    groups: dict[tuple, list[int]] = {}
    for index, x in enumerate(inputs):
        groups.setdefault(x.shape[1:], []).append(index)
    results: list[Comparison | None] = [None] * len(inputs)
    for indices in groups.values():
        stacked = np.concatenate([inputs[i] for i in indices], axis=0)
        expected = subject.torch_output(stacked)
        actual, problem = _ort_or_problem(subject, stacked, ctx)
        start = 0
        for i in indices:
            stop = start + len(inputs[i])
            comparison = compare_outputs(subject, inputs[i], expected[start:stop],
                                         None if actual is None else actual[start:stop], problem, ctx.tolerance)
            if ctx.figures is not None:
                ctx.figures.add(comparison)
            if not comparison:
                raise record_failure(ctx, subject, inputs[i], expected[start:stop],
                                     None if actual is None else actual[start:stop],
                                     f"parity failed: {comparison.describe()}", "numeric",
                                     {"comparison": comparison.figures()}, comparison)
            results[i] = comparison
            start = stop
    return results  # type: ignore[return-value]


# --------------------------------------------------------------------------- --artifacts layout

ARTIFACTS_LAYOUT = """\
--artifacts DIR accepts an artifact set, a folder of sets (one per subfolder, e.g. DIR/HDFS, DIR/BGL),
a single model directory, or a folder of model directories (e.g. DIR/legacy, DIR/dynamo).
An artifact set is a folder holding:
  deeplog.pth          DeepLog checkpoint (alog-detect format)            } at least one of the two
  mscred.pth           MSCRED checkpoint (alog-detect format)             }
  replay.log           optional: the log replayed for verdict parity; without it the Loghub
                       sample of the checkpoint's log format (hdfs, bgl, openssh) is used
  <label>/             one model directory per export (label = strategy: legacy, dynamo, auto):
      deeplog.onnx + deeplog.onnx.meta.json + vocab.json (engine format)
      mscred.onnx + mscred.onnx.meta.json
A single model directory (deeplog.onnx / mscred.onnx + meta) finds its checkpoint through the meta's
"source" (as convert-onnx writes it: absolute, or relative to the directory or its parent); its label
is the directory's name. The meta's export record says which exporter and torch produced each file."""

MODEL_FILES = {"deeplog": artifacts.DEEPLOG_ONNX, "mscred": artifacts.MSCRED_ONNX}


@dataclass
class ArtifactSet:
    name: str
    root: Path
    deeplog_checkpoint: Path | None
    mscred_checkpoint: Path | None
    model_dirs: dict[str, Path]  # label -> model directory
    replay_log: Path | None = None

    def checkpoint_of(self, model_type: str) -> Path | None:
        return self.deeplog_checkpoint if model_type == "deeplog" else self.mscred_checkpoint

    def subject(self, model_type: str, label: str) -> Subject:
        ckpt = self.checkpoint_of(model_type)
        if ckpt is None:
            raise AlogError(f"artifact set {self.root} has no {model_type} checkpoint")
        onnx_path = self.model_dirs[label] / MODEL_FILES[model_type]
        if not onnx_path.is_file():
            raise AlogError(f"{onnx_path} not found")
        return subject_from_files(f"{self.name}/{label}", model_type, ckpt, onnx_path)

    def labels(self, model_type: str) -> list[str]:
        if self.checkpoint_of(model_type) is None:
            return []
        return [label for label, d in self.model_dirs.items() if (d / MODEL_FILES[model_type]).is_file()]


def _is_model_dir(path: Path) -> bool:
    return path.is_dir() and any((path / name).is_file() for name in MODEL_FILES.values())


def _artifact_set(root: Path, name: str) -> ArtifactSet | None:
    deeplog, mscred = root / "deeplog.pth", root / "mscred.pth"
    if not deeplog.is_file() and not mscred.is_file():
        return None
    model_dirs = {d.name: d for d in sorted(root.iterdir()) if not d.name.startswith(".") and _is_model_dir(d)}
    if not model_dirs:
        raise AlogError(f"artifact set {root} has checkpoints but no model directory (<label>/deeplog.onnx)")
    replay = root / "replay.log"
    return ArtifactSet(name, root, deeplog if deeplog.is_file() else None, mscred if mscred.is_file() else None,
                       model_dirs, replay if replay.is_file() else None)


def _source_checkpoint(model_dir: Path, model_type: str) -> Path | None:
    onnx_path = model_dir / MODEL_FILES[model_type]
    if not onnx_path.is_file():
        return None
    source = read_meta(onnx_path).get("source")
    if not source:
        raise AlogError(f"{artifacts.meta_path(onnx_path)} names no source checkpoint (\"source\")")
    source = Path(source)
    candidates = [source] if source.is_absolute() else [model_dir / source, model_dir.parent / source]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise AlogError(f"{onnx_path.name}'s source checkpoint {source} not found (looked in "
                    f"{', '.join(str(c.parent) for c in candidates)})")


def _model_dir_set(model_dir: Path) -> ArtifactSet:
    replay = model_dir / "replay.log"
    return ArtifactSet(model_dir.name, model_dir, _source_checkpoint(model_dir, "deeplog"),
                       _source_checkpoint(model_dir, "mscred"), {model_dir.name: model_dir},
                       replay if replay.is_file() else None)


def discover_artifacts(directory: str | Path) -> list[ArtifactSet]:
    """The artifact sets in ``directory`` (see ARTIFACTS_LAYOUT); a clear error when there is none."""
    directory = Path(directory)
    if not directory.is_dir():
        raise AlogError(f"--artifacts {directory}: not a directory")
    single = _artifact_set(directory, directory.name)
    if single is not None:
        return [single]
    if _is_model_dir(directory):
        return [_model_dir_set(directory)]
    folders = [d for d in sorted(directory.iterdir()) if d.is_dir() and not d.name.startswith(".")]
    sets = [s for d in folders for s in [_artifact_set(d, d.name)] if s is not None]
    if not sets:  # a folder of model directories (e.g. models/legacy, models/dynamo): each its own set
        sets = [_model_dir_set(d) for d in folders if _is_model_dir(d)]
    if not sets:
        raise AlogError(f"--artifacts {directory}: no deeplog.pth or mscred.pth in it or its subfolders, and no "
                        f"model directory (see: python -m converter.paritykit layout)")
    return sets


# --------------------------------------------------------------------------- replay


def replay(bundle: str | Path, sessions: SessionCache | None = None) -> tuple[bool, str]:
    """Rerun a bundle: (still failing?, one-paragraph report)."""
    bundle = Path(bundle)
    doc_path = bundle / "bundle.json"
    if not doc_path.is_file():
        raise AlogError(f"{bundle} is not a parity repro bundle (no bundle.json)")
    try:
        doc = json.loads(doc_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AlogError(f"cannot read {doc_path}: {exc}") from None
    if doc.get("format") != BUNDLE_FORMAT:
        raise AlogError(f"{doc_path} is not a parity repro bundle")
    tolerance = Tolerance.from_mapping(doc.get("tolerance"))
    x = np.load(bundle / "input.npy")
    if (bundle / "model.pth").is_file():
        model, _ = checkpoint.load(bundle / "model.pth", doc["model_type"])
        source = "PyTorch (model.pth)"
    else:
        model, source = None, "expected.npy"
    subject = Subject(f"bundle {bundle.name}", doc["model_type"], model or torch.nn.Identity(),
                      bundle / "model.onnx", None, doc["input_name"], doc["output_name"])
    expected = subject.torch_output(x) if model is not None else np.load(bundle / "expected.npy")
    ctx = ParityContext(sessions or SessionCache(), tolerance)
    actual, problem = _ort_or_problem(subject, x, ctx)
    comparison = compare_outputs(subject, x, expected, actual, problem, tolerance)
    lines = [f"reference: {source}; torch {torch.__version__}",
             ("numeric parity holds: " if comparison else "numeric parity FAILS: ") + comparison.describe()]
    failing = not comparison
    if doc.get("kind") == "topg" and actual is not None and not comparison.problem:
        g = int(doc.get("details", {}).get("top_g", artifacts.DEFAULT_TOP_G))
        outcome = topg_decisions(expected, actual, g, tolerance)
        failing = not outcome.ok
        lines.append(f"top-{g}: {outcome.agree} rows agree, {outcome.ties} ties, "
                     f"{len(outcome.disagreements)} disagree" + ("" if outcome.ok else f": {outcome.disagreements[0]}"))
    return failing, "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m converter.paritykit", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rp = sub.add_parser("replay", help="rerun a repro bundle; exit 1 while the failure reproduces")
    rp.add_argument("bundle")
    sub.add_parser("layout", help="print the --artifacts layout the parity suite accepts")
    args = parser.parse_args(argv)
    if args.command == "layout":
        print(ARTIFACTS_LAYOUT)
        return 0
    try:
        failing, report = replay(args.bundle)
    except AlogError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report)
    print("reproduced: the failure is still there" if failing else "not reproduced: parity holds now")
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())

