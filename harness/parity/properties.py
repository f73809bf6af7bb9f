"""Parity checks: PyTorch next to ONNX Runtime under the one tolerance policy (converter.compare).

``check_parity`` compares outputs, ``check_topg`` DeepLog's top-g candidate sets (ties at the g
boundary counted, not judged), ``check_parity_many`` batches many examples into one call per shape.
On a disagreement each writes a repro bundle and raises ``ParityFailure`` (an AssertionError) whose
message names the output, the shape, the figures and the bundle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from converter.compare import DEFAULT_TOLERANCE, Comparison, Tolerance, compare
from converter.errors import AlogError, first_line
from harness.parity.bundles import bundle_replay_command, write_bundle
from harness.parity.figures import Figures
from harness.parity.sessions import SessionCache
from harness.parity.subjects import Subject


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


def ort_output_or_problem(subject: Subject, x: np.ndarray, ctx: ParityContext) -> tuple[np.ndarray | None, str | None]:
    try:
        return subject.ort_output(x, ctx.sessions), None
    except AlogError:
        raise
    except Exception as exc:  # noqa: BLE001 - ORT refusing an input is a parity failure, with its reason
        return None, f"ONNX Runtime failed: {first_line(exc, 300)}"


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
    message = f"{headline}; repro bundle: {bundle} (replay: {bundle_replay_command(bundle)})"
    if ctx.figures is not None:
        ctx.figures.fail(message, bundle)
    return ParityFailure(message, bundle, comparison)


def check_parity(subject: Subject, x: np.ndarray, ctx: ParityContext) -> Comparison:
    """Run ``x`` through PyTorch and ONNX Runtime and compare; raise ParityFailure when they disagree."""
    expected = subject.torch_output(x)
    actual, problem = ort_output_or_problem(subject, x, ctx)
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


def ranked_top(logits: np.ndarray, g: int) -> tuple[np.ndarray, np.ndarray]:
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
    exp_set, exp_sorted = ranked_top(expected.astype(np.float64), g)
    act_set, act_sorted = ranked_top(actual.astype(np.float64), g)
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
    actual, problem = ort_output_or_problem(subject, x, ctx)
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




def check_parity_many(subject: Subject, inputs: list[np.ndarray], ctx: ParityContext) -> list[Comparison]:
    """Like check_parity for many examples, concatenating those of the same trailing shape along batch."""
    groups: dict[tuple, list[int]] = {}
    for index, x in enumerate(inputs):
        groups.setdefault(x.shape[1:], []).append(index)
    results: list[Comparison | None] = [None] * len(inputs)
    for indices in groups.values():
        stacked = np.concatenate([inputs[i] for i in indices], axis=0)
        expected = subject.torch_output(stacked)
        actual, problem = ort_output_or_problem(subject, stacked, ctx)
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
