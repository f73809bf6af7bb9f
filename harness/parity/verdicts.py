"""Verdict parity: a whole log replayed through the reference detector with a PyTorch predictor and with
ONNX Runtime must give the same anomaly verdicts line for line, except flips on a tie at the g boundary."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from converter.compare import Comparison, Tolerance, compare
from harness.parity.properties import ParityContext, boundary_ties, ranked_top, record_failure
from harness.parity.subjects import Subject

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
    top, ordered = ranked_top(logits[None, :].astype(np.float64), logits.shape[0])
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
    for position, (a, b) in enumerate(zip(by_torch, by_ort, strict=True)):  # equal lengths: checked above
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


