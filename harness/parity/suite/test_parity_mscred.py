"""MSCRED: PyTorch vs ONNX Runtime reconstructions of signature matrices in [0, 1].

Inputs include all-zero, all-one and constant tensors, sparse and binary matrices; sensor counts 5, 14
and 33 with random weights, and the trained models (HDFS: 16 sensors, BGL: 107) or --artifacts DIR's.
"""

from __future__ import annotations

import pytest

from harness.parity.suite.support import RANDOM_MSCRED, run_mscred_numeric


@pytest.mark.parametrize("shape_id", list(RANDOM_MSCRED))
def test_mscred_parity_random_weights(shape_id, strategy, random_subjects, parity_ctx):
    subject = random_subjects("mscred", shape_id, strategy)
    ctx = parity_ctx("mscred", "numeric", subject)
    run_mscred_numeric(subject, ctx, max_batch=8, examples=25)
    assert ctx.figures.examples >= 25 and ctx.figures.failures == 0


def test_mscred_parity_trained(mscred_case, trained_artifacts, parity_ctx):
    subject = trained_artifacts.subject("mscred", mscred_case)
    ctx = parity_ctx("mscred", "numeric", subject)
    # Large sensor counts (BGL: 107) cost ~0.1 s per example on each side: small batches suffice.
    sensors = subject.model.config.sensors
    run_mscred_numeric(subject, ctx, max_batch=3 if sensors > 64 else 8, examples=8 if sensors > 64 else 20)
    assert ctx.figures.examples >= 8 and ctx.figures.failures == 0
