"""A team's hub models (--artifacts DIR/hubs.json): PyTorch, built by the entry's hubconf.py, vs ONNX Runtime.

Every architecture goes through the same tests, chosen by its interface alone: next-template models get
hypothesis-drawn batches (1..64) of sequences (1 to 4x the window + 3) of in-range ids, compared as numbers
and as top-g decisions; signature-matrix models get batches (1..16) of [step, scales, sensors, sensors] in
[0, 1]. Each model is checked with the weights its artifacts were exported from, against each artifact,
and re-initialised under two seeds, exported here with the strategies that made its artifacts. None of
these tests is collected when the run has no hub model.
"""

from __future__ import annotations

from converter import artifacts
from harness.parity.subjects import read_meta
from harness.parity.suite.support import (
    run_next_template_numeric,
    run_next_template_topg,
    run_signature_numeric,
    window_seq_bounds,
)

MAX_SIGNATURE_BATCH = 16
# Examples per test, by interface: as the reference models' (a signature example is a far larger tensor).
GIVEN_EXAMPLES = {"next-template": 50, "signature-matrix": 20}
RESEEDED_EXAMPLES = {"next-template": 30, "signature-matrix": 12}


def _numeric(hub, ctx, budget: dict[str, int]) -> int:
    """Numeric parity of one hub subject by its interface; returns the examples it asked for."""
    model = hub.model
    examples = budget[model.interface]
    if model.interface == "next-template":
        run_next_template_numeric(hub.subject, ctx, hub.vocab_size, *window_seq_bounds(model.window), examples)
    else:
        run_signature_numeric(hub.subject, ctx, model.shape, MAX_SIGNATURE_BATCH, examples)
    return examples


def _topg(hub, ctx, examples: int) -> None:
    g = int(read_meta(hub.subject.onnx_path).get("top_g", artifacts.DEFAULT_TOP_G))
    run_next_template_topg(hub.subject, ctx, hub.vocab_size, g, *window_seq_bounds(hub.model.window), examples)


def _numeric_parity(case, hub_subjects, parity_ctx, budget) -> None:
    hub = hub_subjects(case)
    ctx = parity_ctx(case.model, "numeric", hub.subject)
    examples = _numeric(hub, ctx, budget)
    assert ctx.figures.examples >= examples and ctx.figures.failures == 0


def _topg_parity(case, hub_subjects, parity_ctx, examples: int) -> None:
    hub = hub_subjects(case)
    ctx = parity_ctx(case.model, "topg", hub.subject)
    _topg(hub, ctx, examples)
    assert ctx.figures.rows > 0 and ctx.figures.failures == 0


def test_hub_parity_given_weights(hub_case, hub_subjects, parity_ctx):
    _numeric_parity(hub_case, hub_subjects, parity_ctx, GIVEN_EXAMPLES)


def test_hub_topg_parity_given_weights(hub_topg_case, hub_subjects, parity_ctx):
    _topg_parity(hub_topg_case, hub_subjects, parity_ctx, examples=40)


def test_hub_parity_reseeded(hub_seeded_case, hub_subjects, parity_ctx):
    _numeric_parity(hub_seeded_case, hub_subjects, parity_ctx, RESEEDED_EXAMPLES)


def test_hub_topg_parity_reseeded(hub_seeded_topg_case, hub_subjects, parity_ctx):
    _topg_parity(hub_seeded_topg_case, hub_subjects, parity_ctx, examples=20)
