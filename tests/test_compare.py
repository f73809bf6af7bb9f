"""The comparison's robust figure: its p99.9 error is numpy's own quantile, to the bit."""

from __future__ import annotations

import numpy as np
import pytest

from converter.compare import compare, quantile_999


@pytest.mark.parametrize("size", [1, 2, 3, 14, 999, 1000, 1001, 3584, 37632])
def test_quantile_999_is_numpys_quantile_bit_for_bit(size):
    rng = np.random.default_rng(size)
    for scale in (1e-9, 1.0, 1e3):
        values = np.abs(rng.standard_normal(size)) * scale
        values[rng.random(size) < 0.3] = 0.0  # ties, as exact agreement leaves them
        assert quantile_999(values) == float(np.quantile(values, 0.999))
        assert quantile_999(values.reshape(1, size, 1)) == float(np.quantile(values, 0.999))


def test_a_comparison_reports_the_p999_of_its_errors():
    expected = np.zeros((64, 3, 14, 14), dtype=np.float32)
    actual = expected.copy()
    actual.flat[::500] = 1e-6
    result = compare(expected, actual)
    assert result.p999_abs_error == float(np.quantile(np.abs(actual.astype(np.float64)), 0.999))
    assert result.max_abs_error == pytest.approx(1e-6)
