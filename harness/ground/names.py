"""The names every stage agrees on: engines, checks and statuses (the models are data: harness.config.models).

The JSON schema of the report and its HTML template take their enums from here (a test proves they
match); the check registry (``harness.checks``) registers exactly ``CHECK_NAMES``, in this order, and
refuses to load otherwise, so loading matrix.toml needs no check module.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

# Who runs an artifact in the runtime stage: ONNX Runtime's Python API, the C engine.
ENGINES = ("python", "c")

# Every check of a cell, in run and report order (harness.checks registers them).
CHECK_NAMES = ("exporter_signature", "train", "checkpoint_load", "default_call", "legacy_export",
               "typeerror_fallback", "dynamo_export", "auto_export", "cli_export", "dynamic_axes", "torch_drift",
               "golden_parity", "parity", "cengine", "warnings")

# pass/fail are judged against the cell's expectations: an expected failure that fails is
# ``xfail``, one that passes is ``xpass``. ``error`` = the check itself broke (harness bug or
# unexpected exception); ``missing`` = no evidence (the check could not run for want of something it
# needs, or its cell left no result); ``crash``/``timeout`` = the cell's process died or hung.
STATUSES = ("pass", "fail", "xfail", "xpass", "error", "skip", "missing", "crash", "timeout")

# A cell's own state: finished, or how the parent saw it end.
CELL_STATUSES = ("complete", "crash", "timeout", "error", "interrupted")

# The runtime stage: pass/fail against the golden outputs; incompatible: the runtime refused to load the
# model (IR version, opset, operator: its own message kept); error: it loaded but failed to run; crash:
# the runner died on it.
RUNTIME_STATUSES = ("pass", "fail", "incompatible", "error", "crash")


def count_statuses(statuses: Iterable[str]) -> dict[str, int]:
    """How many of each status, in STATUSES order (statuses that do not occur are left out)."""
    counts = Counter(statuses)
    ordered = {s: counts.pop(s) for s in STATUSES if s in counts}
    return {**ordered, **dict(sorted(counts.items()))}


def counts_line(statuses: Iterable[str]) -> str:
    return ", ".join(f"{n} {s}" for s, n in count_statuses(statuses).items()) or "no checks"
