"""Anomaly verdicts: a whole log replayed through the reference detector with a PyTorch predictor and with
ONNX Runtime (converter.detection.ort_predict) must agree line for line.

A verdict that flips because the line's template sits on a tie at the top-g boundary (its logit within
tolerance of the logit across the boundary) is counted as a tie, not as a pass or a failure.
"""

from __future__ import annotations

from converter.detection import load_model_dir, ort_predict, read_log
from harness.parity.verdicts import check_verdicts


def test_deeplog_verdict_parity(deeplog_case, trained_artifacts, parity_ctx, parity_run):
    subject = trained_artifacts.subject("deeplog", deeplog_case)
    model = load_model_dir(trained_artifacts.model_dir(deeplog_case))
    lines = read_log(trained_artifacts.replay_log(deeplog_case))
    ctx = parity_ctx("deeplog", "verdicts", subject)
    ort = parity_run.sessions.predictor(model.onnx_path, model.meta["input_name"], model.meta["output_name"],
                                        ort_predict)
    outcome = check_verdicts(subject, lines, model.engine_vocab, model.header_fields, model.seq_len, model.top_g,
                             ort, ctx)
    assert outcome.windows > 0, "the replayed log produced no window to predict"
    assert outcome.verdicts >= outcome.windows and outcome.comparison
