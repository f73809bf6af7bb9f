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


def test_nan_and_inf_in_the_same_places_agree_and_are_counted_apart():
    expected = np.array([[np.nan, 2.0], [3.0, np.nan]], dtype=np.float32)  # a Sqrt of negatives
    expected[1, 0] = np.inf
    result = compare(expected, expected.copy())
    assert result.ok and result.problem is None
    assert result.nonfinite == 3 and result.max_abs_error == 0.0
    assert result.worst_expected is not None and np.isfinite(result.worst_expected)
    assert "3 NaN/Inf elements, the same on both sides" in result.describe()
    assert result.figures()["nonfinite"] == 3


def test_nan_in_other_places_or_against_a_number_still_differs():
    expected = np.array([np.nan, 1.0, 2.0], dtype=np.float32)
    assert not compare(expected, np.array([1.0, np.nan, 2.0], dtype=np.float32))
    assert not compare(expected, np.array([0.0, 1.0, 2.0], dtype=np.float32))
    assert not compare(np.array([np.inf]), np.array([-np.inf]))


def test_all_nan_outputs_agree_without_a_worst_element():
    expected = np.full((2, 2), np.nan)
    result = compare(expected, expected.copy())
    assert result.ok and result.nonfinite == 4 and result.worst_index is None


def test_raw_bytes_are_not_compared_as_numbers():
    raw = np.zeros((3,), dtype="V1")  # what a float8 value read without its dtype looks like
    result = compare(raw, raw.copy())
    assert not result.ok and result.problem.startswith("cannot compare: dtype")
