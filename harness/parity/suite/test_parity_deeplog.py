"""DeepLog: PyTorch vs ONNX Runtime logits, and the top-g decisions taken from them.

Random-weight shapes (exported here once per strategy) and the trained models (this run's, or the
artifacts of --artifacts DIR) each get hypothesis-drawn batches (1..64) of sequences (1 to 4x the
trained window, plus the export length) of in-range template ids.
"""

from __future__ import annotations

import pytest

from converter import artifacts
from harness.parity.suite.support import RANDOM_DEEPLOG, deeplog_seq_bounds, run_deeplog_numeric, run_deeplog_topg

TOP_G = artifacts.DEFAULT_TOP_G


@pytest.mark.parametrize("shape_id", list(RANDOM_DEEPLOG))
def test_deeplog_parity_random_weights(shape_id, strategy, random_subjects, parity_ctx):
    subject = random_subjects("deeplog", shape_id, strategy)
    ctx = parity_ctx("deeplog", "numeric", subject)
    run_deeplog_numeric(subject, ctx, *deeplog_seq_bounds(subject.model.config.seq_len), examples=60)
    assert ctx.figures.examples >= 60 and ctx.figures.failures == 0


@pytest.mark.parametrize("shape_id", list(RANDOM_DEEPLOG))
def test_deeplog_topg_parity_random_weights(shape_id, strategy, random_subjects, parity_ctx):
    subject = random_subjects("deeplog", shape_id, strategy)
    ctx = parity_ctx("deeplog", "topg", subject)
    run_deeplog_topg(subject, ctx, TOP_G, *deeplog_seq_bounds(subject.model.config.seq_len), examples=40)
    assert ctx.figures.rows > 0 and ctx.figures.failures == 0
    assert ctx.figures.notes.get("trivial_examples", 0) == 0  # every shape has more templates than g


def test_deeplog_parity_trained(deeplog_case, trained_artifacts, parity_ctx):
    subject = trained_artifacts.subject("deeplog", deeplog_case)
    ctx = parity_ctx("deeplog", "numeric", subject)
    run_deeplog_numeric(subject, ctx, *deeplog_seq_bounds(subject.model.config.seq_len), examples=50)
    assert ctx.figures.examples >= 50 and ctx.figures.failures == 0


def test_deeplog_topg_parity_trained(deeplog_case, trained_artifacts, parity_ctx):
    subject = trained_artifacts.subject("deeplog", deeplog_case)
    ctx = parity_ctx("deeplog", "topg", subject)
    g = int(_meta_top_g(subject))
    run_deeplog_topg(subject, ctx, g, *deeplog_seq_bounds(subject.model.config.seq_len), examples=40)
    assert ctx.figures.rows > 0 and ctx.figures.failures == 0


def _meta_top_g(subject) -> int:
    from harness.parity.subjects import read_meta

    return read_meta(subject.onnx_path).get("top_g", TOP_G)
