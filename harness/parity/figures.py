"""What one parity test saw over all its examples, and the figures document of a whole run.

The document (``FiguresRecorder.write``) is what the matrix's parity check reads: per test its model,
check, outcome and figures; per model the totals over its real checks. The suite's self-checks (which
break artifacts on purpose, ``SELF_CHECKS``) are summed apart so their deliberate errors never count as a
model's figures.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from converter import atomic, versions
from converter.compare import DEFAULT_TOLERANCE, Comparison, Tolerance

if TYPE_CHECKING:
    from harness.parity.subjects import Subject

FIGURES_FORMAT = "alog-parity-figures"
FIGURES_FORMAT_VERSION = 1
# Checks of the parity machinery itself: they break artifacts on purpose and expect the failure.
SELF_CHECKS = frozenset({"broken_artifact", "single_outlier", "near_zero"})
SELFCHECK = "selfcheck"  # the key their totals are kept under


@dataclass
class Figures:
    """What one parity test saw, over all its examples."""

    test: str
    model: str
    check: str  # numeric | topg | verdicts | setup, or one of SELF_CHECKS (checks of the checker)
    subject: str | None = None
    exporter: str | None = None
    made_by_torch: str | None = None
    examples: int = 0  # examples tried (hypothesis examples, shrinking included)
    elements: int = 0  # output elements compared
    max_abs_error: float = 0.0
    max_rel_error: float = 0.0
    p999_abs_error: float = 0.0  # worst per-example 99.9th percentile
    outliers: int = 0  # elements outside atol + rtol*|expected|, summed over examples
    examples_with_outliers: int = 0
    rows: int = 0  # top-g / verdict checks: rows (windows or lines) decided
    ties: int = 0  # rows whose decision sits on a tie within tolerance: neither pass nor fail
    failures: int = 0  # failing examples (each shrink step that fails counts)
    first_failure: str | None = None
    repro: str | None = None  # the latest bundle written (the shrunk example, after hypothesis)
    outcome: str | None = None  # pytest's: passed | failed | skipped (filled in at the end)
    seconds: float = 0.0
    notes: dict[str, Any] = field(default_factory=dict)

    def add(self, comparison: Comparison) -> None:
        self.examples += 1
        self.elements += comparison.elements
        if comparison.problem:
            return
        self.max_abs_error = max(self.max_abs_error, comparison.max_abs_error)
        self.max_rel_error = max(self.max_rel_error, comparison.max_rel_error)
        self.p999_abs_error = max(self.p999_abs_error, comparison.p999_abs_error)
        self.outliers += comparison.outliers
        self.examples_with_outliers += int(comparison.outliers > 0)

    def fail(self, message: str, bundle: Path | None) -> None:
        self.failures += 1
        self.first_failure = self.first_failure or message
        if bundle is not None:
            self.repro = str(bundle)


class FiguresRecorder:
    """Figures per test node id, written as one JSON document at the end of a run."""

    def __init__(self, tolerance: Tolerance = DEFAULT_TOLERANCE):
        self.tolerance = tolerance
        self.entries: dict[str, Figures] = {}
        self.started = time.time()

    def entry(self, test: str, model: str, check: str, subject: Subject | None = None) -> Figures:
        figures = self.entries.get(test)
        if figures is None:
            figures = self.entries[test] = Figures(test, model, check)
        if subject is not None:
            figures.subject, figures.exporter, figures.made_by_torch = (
                subject.label, subject.exporter, subject.made_by_torch)
        return figures

    def summary(self) -> dict[str, Any]:
        """Totals per model over the real checks; the suite's self-checks (which break artifacts on
        purpose) are summed apart so their deliberate errors never count as the model's figures."""
        by_model: dict[str, dict[str, Any]] = {}
        for f in self.entries.values():
            key = SELFCHECK if f.check in SELF_CHECKS else f.model
            m = by_model.setdefault(key, {"tests": 0, "passed": 0, "failed": 0, "examples": 0, "elements": 0,
                                          "max_abs_error": 0.0, "max_rel_error": 0.0, "outliers": 0,
                                          "rows": 0, "ties": 0, "failures": 0, "repro": []})
            m["tests"] += 1
            m["passed"] += int(f.outcome == "passed")
            m["failed"] += int(f.outcome != "passed")
            for name in ("examples", "elements", "outliers", "rows", "ties", "failures"):
                m[name] += getattr(f, name)
            m["max_abs_error"] = max(m["max_abs_error"], f.max_abs_error)
            m["max_rel_error"] = max(m["max_rel_error"], f.max_rel_error)
            if f.repro:
                m["repro"].append(f.repro)
        return by_model

    def document(self, **extra: Any) -> dict[str, Any]:
        return {
            "format": FIGURES_FORMAT,
            "format_version": FIGURES_FORMAT_VERSION,
            "environment": versions.environment(),
            "tolerance": asdict(self.tolerance),
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
            "seconds": round(time.time() - self.started, 3),
            **extra,
            "by_model": self.summary(),
            "tests": [asdict(f) for f in self.entries.values()],
        }

    def write(self, path: str | Path, **extra: Any) -> Path:
        path = Path(path)
        atomic.write_json(path, self.document(**extra))
        return path
