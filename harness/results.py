"""The result model: one typed record from a check to the verdict.

A check returns an ``Outcome`` (harness.checks.base); the cell's recorder judges it against matrix.toml's
expectations (``judge``) into a ``CheckResult``; a cell's checks, environment and stages form its
``CellResult``, which the cell runner writes once and the orchestrator completes with what only the
parent knows (venv time, a death, an environment failure) before writing ``reports/cells/<id>.json``.
The report and the gate read only these files.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from converter import atomic
from harness.checks import CHECKS

SCHEMA_VERSION = 1

# pass/fail are judged against the cell's expectations: an expected failure that fails is
# ``xfail``, one that passes is ``xpass``. ``error`` = the check itself broke (harness bug or
# unexpected exception); ``missing`` = no evidence (the check could not run for want of something it
# needs, or its cell left no result); ``crash``/``timeout`` = the cell's process died or hung.
STATUSES = ("pass", "fail", "xfail", "xpass", "error", "skip", "missing", "crash", "timeout")

# A cell's own state: finished, or how the parent saw it end.
CELL_STATUSES = ("complete", "crash", "timeout", "error", "interrupted")

MODELS = ("deeplog", "mscred")

__all__ = ["CHECKS", "MODELS", "STATUSES", "CellResult", "CheckResult", "count_statuses", "judge"]


def judge(passed: bool | None, expected: str) -> str:
    """A check's status from what it found and what matrix.toml expects ("pass" or "fail")."""
    if passed is None:
        return "skip"
    if expected == "fail":
        return "xpass" if passed else "xfail"
    return "pass" if passed else "fail"


def count_statuses(statuses: Iterable[str]) -> dict[str, int]:
    """How many of each status, in STATUSES order (statuses that do not occur are left out)."""
    counts = Counter(statuses)
    ordered = {s: counts.pop(s) for s in STATUSES if s in counts}
    return {**ordered, **dict(sorted(counts.items()))}


def counts_line(statuses: Iterable[str]) -> str:
    return ", ".join(f"{n} {s}" for s, n in count_statuses(statuses).items()) or "no checks"


@dataclass
class CheckResult:
    model: str
    check: str
    status: str
    expected: str = "pass"  # "pass" or "fail" (from matrix.toml expectations)
    reason: str | None = None  # why a failure is expected (matrix.toml), or why the check was skipped
    error: str | None = None  # first line of the exception or failure message
    root_cause: str | None = None  # innermost exception: "Type: message"
    warnings: list[dict[str, str]] = field(default_factory=list)  # {"category": ..., "message": ...}
    figures: dict[str, Any] = field(default_factory=dict)  # max_abs_error, max_rel_error, examples, seconds...
    detail: dict[str, Any] = field(default_factory=dict)  # exporter used, opset, op types, input dims...
    repro: str | None = None  # path of a reproduction bundle, on failure
    replay: str | None = None  # the command that replays the bundle, exactly as the bundle holds it
    seconds: float | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown check result keys {unknown}")
        return cls(**data)


@dataclass
class CellResult:
    cell_id: str
    status: str  # one of CELL_STATUSES
    environment: dict[str, Any] = field(default_factory=dict)  # python, torch, numpy, onnx, ...
    checks: list[CheckResult] = field(default_factory=list)
    stages: dict[str, float] = field(default_factory=dict)  # stage name -> seconds
    started: str | None = None
    finished: str | None = None
    signal: str | None = None  # crash: the signal name; timeout: "timeout"
    output_tail: str | None = None  # last lines of the cell's output when it died
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if self.status not in CELL_STATUSES:
            raise ValueError(f"unknown cell status {self.status!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CellResult:
        data = dict(data)
        data["checks"] = [CheckResult.from_dict(c) for c in data.get("checks", [])]
        return cls(**data)

    def write(self, path: str | Path) -> None:
        atomic.write_json(path, self.to_dict())

    @classmethod
    def read(cls, path: str | Path) -> CellResult:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def recorded(self) -> set[tuple[str, str]]:
        return {(c.model, c.check) for c in self.checks}

    def counts_line(self) -> str:
        return counts_line(c.status for c in self.checks)


# --- the runtime stage: every kept artifact in every runtime, at every level, by each engine ------------

# pass/fail against the golden outputs; incompatible: the runtime refused to load the model (IR version,
# opset, operator: its own message kept); error: it loaded but failed to run; crash: the runner died on it.
RUNTIME_STATUSES = ("pass", "fail", "incompatible", "error", "crash")


@dataclass
class RuntimeOutcome:
    artifact: str  # "<cell>/<strategy>/<model>", the kept artifact's place under reports/artifacts
    level: str  # disabled | basic | extended | all
    engine: str  # python | c
    status: str
    expected: str = "pass"  # the outcome a [[runtime.expect]] accepts, else "pass"
    reason: str | None = None  # why that outcome is expected
    error: str | None = None  # the runtime's own message when it refused or failed
    figures: dict[str, Any] = field(default_factory=dict)  # vs golden, vs the artifact's torch, engine vs python
    latency: dict[str, float] = field(default_factory=dict)  # session_ms, run_us_b1, run_us_b256
    divergence: str | None = None  # on a failure: the localizer's first line (its bundle under runtimes/repro)
    seconds: float | None = None

    def __post_init__(self) -> None:
        if self.status not in RUNTIME_STATUSES:
            raise ValueError(f"unknown runtime outcome {self.status!r}")

    @property
    def accepted(self) -> bool:
        """As wanted: a pass, or the very outcome an expectation accepts."""
        return self.status == "pass" or self.status == self.expected

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RuntimeResult:
    runtime_id: str
    status: str  # one of CELL_STATUSES: how the runtime's runner ended
    environment: dict[str, Any] = field(default_factory=dict)  # onnxruntime, numpy, python
    outcomes: list[RuntimeOutcome] = field(default_factory=list)
    stages: dict[str, float] = field(default_factory=dict)
    started: str | None = None
    finished: str | None = None
    output_tail: str | None = None
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RuntimeResult:
        data = dict(data)
        data["outcomes"] = [RuntimeOutcome(**o) for o in data.get("outcomes", [])]
        return cls(**data)

    def write(self, path: str | Path) -> None:
        atomic.write_json(path, self.to_dict())

    @classmethod
    def read(cls, path: str | Path) -> RuntimeResult:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def done(self) -> set[tuple[str, str, str]]:
        return {(o.artifact, o.level, o.engine) for o in self.outcomes}
