"""The one tolerance policy used everywhere outputs are compared (validation, parity tests, harness).

An element agrees when |actual - expected| <= atol + rtol * |expected| (numpy's allclose rule). NaN agrees
with NaN and an infinity with the same infinity, in the same places: two runs giving the same bytes agree;
those elements are counted apart (``nonfinite``) so a NaN is a finding of its own, never hidden.
Relative error is reported against max(|expected|, atol / rtol), so values near zero cannot blow it
up. ``max_outlier_fraction`` lets a policy accept a tiny share of outliers, but they are always counted
and reported, never hidden.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from converter.tolerance import DEFAULT_TOLERANCE, Tolerance

__all__ = ["DEFAULT_TOLERANCE", "Comparison", "Tolerance", "compare", "quantile_999"]




@dataclass
class Comparison:
    """Truthy when the outputs agree under the policy; carries its figures either way."""

    ok: bool
    name: str
    shape: tuple[int, ...]
    elements: int
    max_abs_error: float
    max_rel_error: float
    p999_abs_error: float  # robust: what almost every element sees, next to the worst one
    outliers: int
    worst_index: tuple[int, ...] | None
    worst_expected: float | None
    worst_actual: float | None
    tolerance: Tolerance = field(default_factory=Tolerance)
    problem: str | None = None  # shape/dtype/non-finite mismatch, when there is one
    nonfinite: int = 0  # NaN/Inf elements both sides hold in the same places (agreeing, but reported)

    def __bool__(self) -> bool:
        return self.ok

    def figures(self) -> dict[str, Any]:
        data = asdict(self)
        data["shape"] = list(self.shape)
        data["worst_index"] = list(self.worst_index) if self.worst_index is not None else None
        return data

    def describe(self) -> str:
        if self.problem:
            return f"{self.name}: {self.problem}"
        nonfinite = f"; {self.nonfinite} NaN/Inf elements, the same on both sides" if self.nonfinite else ""
        head = (
            f"{self.name} shape {list(self.shape)}: max abs error {self.max_abs_error:.3g}, "
            f"max rel error {self.max_rel_error:.3g}, p99.9 abs error {self.p999_abs_error:.3g}, "
            f"{self.outliers} of {self.elements} elements outside atol={self.tolerance.atol:g} "
            f"rtol={self.tolerance.rtol:g}"
        )
        if self.outliers:
            head += (
                f" (worst at {list(self.worst_index or ())}: expected {self.worst_expected:.6g}, "
                f"got {self.worst_actual:.6g})"
            )
        return head + nonfinite


def quantile_999(values: np.ndarray) -> float:
    """``np.quantile(values, 0.999)`` to the bit (its linear rule), by one partition: the runtime stage compares
    thousands of small outputs, where np.quantile's own overhead was most of a comparison's cost."""
    flat = values.ravel()
    index = 0.999 * (flat.size - 1)
    lo = int(index)
    hi = min(lo + 1, flat.size - 1)
    part = np.partition(flat, [lo, hi])
    a, b, t = part[lo], part[hi], index - lo
    return float(b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t)


def compare(expected, actual, tolerance: Tolerance = DEFAULT_TOLERANCE, name: str = "output") -> Comparison:
    expected = np.asarray(expected)
    actual = np.asarray(actual)

    def failed(problem: str) -> Comparison:
        return Comparison(False, name, tuple(expected.shape), int(expected.size), float("inf"), float("inf"),
                          float("inf"), int(expected.size), None, None, None, tolerance, problem)

    if expected.shape != actual.shape:
        return failed(f"shape {list(actual.shape)} differs from the expected {list(expected.shape)}")
    for side in (expected, actual):  # raw bytes (float8 read as void), bfloat16, strings, objects: not numbers
        if side.dtype.kind not in "biuf":
            return failed(f"cannot compare: dtype {side.dtype} is not a numeric type numpy computes with")
    if expected.size == 0:
        return Comparison(True, name, tuple(expected.shape), 0, 0.0, 0.0, 0.0, 0, None, None, None, tolerance)
    e = expected.astype(np.float64)
    a = actual.astype(np.float64)
    finite_e, finite_a = np.isfinite(e), np.isfinite(a)
    # NaN == NaN here: the same non-finite values in the same places are agreement, counted apart
    if not np.array_equal(finite_e, finite_a) or not np.array_equal(e[~finite_e], a[~finite_a], equal_nan=True):
        return failed("non-finite values (nan/inf) differ")
    nonfinite = int((~finite_e).sum())
    with np.errstate(invalid="ignore"):  # inf - inf where both are inf: masked out just below
        diff = np.where(finite_e, np.abs(a - e), 0.0)
    rel = diff / np.maximum(np.abs(np.where(finite_e, e, 0.0)), tolerance.rel_floor)
    bad = diff > tolerance.atol + tolerance.rtol * np.abs(np.where(finite_e, e, 0.0))
    outliers = int(bad.sum())
    ok = outliers <= tolerance.max_outlier_fraction * diff.size
    if nonfinite == diff.size:  # nothing finite to point at
        return Comparison(bool(ok), name, tuple(expected.shape), int(diff.size), 0.0, 0.0, 0.0, 0, None, None, None,
                          tolerance, nonfinite=nonfinite)
    # the worst element among the finite ones (a NaN is never "the worst value")
    worst = np.unravel_index(int(np.argmax(np.where(finite_e, diff, -1.0))), diff.shape)
    return Comparison(
        ok=bool(ok),
        name=name,
        shape=tuple(expected.shape),
        elements=int(diff.size),
        max_abs_error=float(diff.max()),
        max_rel_error=float(rel.max()),
        p999_abs_error=quantile_999(diff),
        outliers=outliers,
        worst_index=tuple(int(i) for i in worst),
        worst_expected=float(e[worst]),
        worst_actual=float(a[worst]),
        tolerance=tolerance,
        nonfinite=nonfinite,
    )
