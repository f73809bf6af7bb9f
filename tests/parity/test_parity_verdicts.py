"""Anomaly verdicts: a whole log replayed through the reference detector with a PyTorch predictor and with
ONNX Runtime (converter.detection.ort_predict) must agree line for line.

A verdict that flips because the line's template sits on a tie at the top-g boundary (its logit within
tolerance of the g-th / (g+1)-th one) is counted as a tie, not as a pass or a failure.
"""

from __future__ import annotations

import numpy as np

from converter.compare import compare
from converter.detection import detect_lines, load_model_dir, ort_predict, read_log
from converter.paritykit import boundary_ties, record_failure

KEYS = ("line", "template", "verdict", "reason")


def _recording(predict):
    calls: list[tuple[np.ndarray, np.ndarray]] = []

    def wrapped(x: np.ndarray) -> np.ndarray:
        out = np.asarray(predict(x))
        calls.append((np.array(x), np.array(out)))
        return out

    return wrapped, calls


def _key_on_boundary_tie(logits: np.ndarray, key: int, g: int, tolerance) -> bool:
    """Is ``key``'s logit within tolerance of the logit on the other side of the top-g boundary?"""
    if g >= logits.shape[0] or g < 1:
        return False
    order = np.lexsort((np.arange(logits.shape[0]), -logits.astype(np.float64)))
    rank = int(np.flatnonzero(order == key)[0])
    if rank not in (g - 1, g):
        return False
    ordered = np.sort(logits.astype(np.float64))[::-1][None, :]
    return bool(boundary_ties(ordered, g, tolerance)[0])


def test_deeplog_verdict_parity(deeplog_case, trained_artifacts, parity_ctx, parity_run):
    subject = trained_artifacts.subject("deeplog", deeplog_case)
    model = load_model_dir(trained_artifacts.model_dir(deeplog_case))
    lines = read_log(trained_artifacts.replay_log(deeplog_case))
    ctx = parity_ctx("deeplog", "verdicts", subject)
    torch_predict, torch_calls = _recording(subject.torch_output)
    ort = parity_run.sessions.predictor(model.onnx_path, model.meta["input_name"], model.meta["output_name"],
                                        ort_predict)
    ort_recorded, ort_calls = _recording(ort)
    settings = (model.engine_vocab, model.header_fields, model.seq_len, model.top_g)
    by_torch = detect_lines(lines, *settings, torch_predict)
    by_ort = detect_lines(lines, *settings, ort_recorded)

    windows = np.concatenate([x for x, _ in torch_calls]) if torch_calls else np.zeros((0, model.seq_len), np.int64)
    expected = np.concatenate([y for _, y in torch_calls]) if torch_calls else np.zeros((0, 1), np.float32)
    actual = np.concatenate([y for _, y in ort_calls]) if ort_calls else np.zeros((0, 1), np.float32)
    comparison = compare(expected, actual, ctx.tolerance,
                         f"output {subject.output_name!r} of {subject.label} over {len(windows)} windows")
    ctx.figures.add(comparison)
    assert len(by_torch) == len(by_ort), "the two runs produced different numbers of verdicts"

    g = model.top_g
    window_of = {}  # record position -> window row (records with a rank came from a window, in order)
    for position, record in enumerate(by_torch):
        if record["rank"] is not None:
            window_of[position] = len(window_of)
    assert len(window_of) == len(windows)
    ties, flips, rank_moves = 0, [], 0
    for position, (a, b) in enumerate(zip(by_torch, by_ort)):
        row = window_of.get(position)
        tie = row is not None and (_key_on_boundary_tie(expected[row], a["template"], g, ctx.tolerance)
                                   or _key_on_boundary_tie(actual[row], a["template"], g, ctx.tolerance))
        ties += int(tie)
        rank_moves += int(a["rank"] != b["rank"])
        if any(a[k] != b[k] for k in KEYS) and not tie:
            flips.append((position, row, a, b))
    ctx.figures.rows += len(by_torch)
    ctx.figures.ties += ties
    ctx.figures.notes.update({"lines": len(lines), "verdicts": len(by_torch), "windows": int(len(windows)),
                              "anomalies": sum(r["verdict"] == "anomaly" for r in by_torch),
                              "rank_differences": rank_moves, "top_g": g})
    if flips:
        position, row, a, b = flips[0]
        subset = slice(row, row + 1) if row is not None else slice(0, 0)
        headline = (f"verdict parity failed: {len(flips)} of {len(by_torch)} verdicts differ between PyTorch and "
                    f"ONNX Runtime for {subject.label}; first at line {a['line']}: PyTorch {a['verdict']} "
                    f"({a['reason']}, rank {a['rank']}) vs ONNX Runtime {b['verdict']} ({b['reason']}, rank "
                    f"{b['rank']}); {comparison.describe()}")
        raise record_failure(ctx, subject, windows[subset], expected[subset], actual[subset], headline, "topg",
                    {"top_g": g, "line": a["line"], "torch": a, "ort": b})
    if not comparison:  # the verdicts agree, but the logits behind them do not
        row = comparison.worst_index[0] if comparison.worst_index else 0
        raise record_failure(ctx, subject, windows[row:row + 1], expected[row:row + 1], actual[row:row + 1],
                             f"parity failed while replaying the log: {comparison.describe()}", "numeric",
                             {"comparison": comparison.figures()}, comparison)
    assert ctx.figures.notes["windows"] > 0, "the replayed log produced no window to predict"
