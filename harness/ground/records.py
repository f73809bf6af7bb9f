"""The result model: one typed record from a check to the verdict.

A check returns an ``Outcome`` (harness.checks.registry); the cell's recorder judges it against matrix.toml's
expectations (``judge``) into a ``CheckResult``; a cell's checks, environment and stages form its
``CellResult``, which the cell runner writes once and the orchestrator completes with what only the
parent knows (venv time, a death, an environment failure) before writing ``reports/cells/<id>.json``.
The report and the gate read only these files.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from converter import atomic
from harness.ground.names import CELL_STATUSES, RUNTIME_STATUSES, STATUSES, counts_line

SCHEMA_VERSION = 1


def _known(value: str, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}")


class _JsonRecord:
    """A record written whole as one JSON file (atomically) and read back through ``from_dict``."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]  # every subclass is a dataclass

    def write(self, path: str | Path) -> None:
        atomic.write_json(path, self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        raise NotImplementedError

    @classmethod
    def read(cls, path: str | Path) -> Any:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def judge(passed: bool | None, expected: str) -> str:
    """A check's status from what it found and what matrix.toml expects ("pass" or "fail")."""
    if passed is None:
        return "skip"
    if expected == "fail":
        return "xpass" if passed else "xfail"
    return "pass" if passed else "fail"


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
        _known(self.status, STATUSES, "status")

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
class CellResult(_JsonRecord):
    cell_id: str
    status: str  # one of CELL_STATUSES
    environment: dict[str, Any] = field(default_factory=dict)  # python, torch, numpy, onnx, ...
    checks: list[CheckResult] = field(default_factory=list)
    stages: dict[str, float] = field(default_factory=dict)  # stage name -> seconds
    started: str | None = None
    finished: str | None = None
    signal: str | None = None  # crash: the signal name; timeout: "timeout"
    output_tail: str | None = None  # last lines of the cell's output when it died
    packages: dict[str, str] = field(default_factory=dict)  # the venv's installed distributions, as the cell saw them
    kept: dict[str, str] = field(default_factory=dict)  # every kept file (under artifacts/<cell>) -> its sha256
    evidence: dict[str, Any] = field(default_factory=dict)  # the evidence key: what these checks are evidence about
    decision: dict[str, Any] = field(default_factory=dict)  # what the last run did: ran it, or reused it and why
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        _known(self.status, CELL_STATUSES, "cell status")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CellResult:
        data = dict(data)
        data["checks"] = [CheckResult.from_dict(c) for c in data.get("checks", [])]
        return cls(**data)

    def recorded(self) -> set[tuple[str, str]]:
        return {(c.model, c.check) for c in self.checks}

    def counts_line(self) -> str:
        return counts_line(c.status for c in self.checks)


# --- the runtime stage: every kept artifact in every runtime, at every level, by each engine ------------

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
        _known(self.status, RUNTIME_STATUSES, "runtime outcome")

    @property
    def accepted(self) -> bool:
        """As wanted: a pass, or the very outcome an expectation accepts."""
        return self.status == "pass" or self.status == self.expected

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RuntimeResult(_JsonRecord):
    runtime_id: str
    status: str  # one of CELL_STATUSES: how the runtime's runner ended
    environment: dict[str, Any] = field(default_factory=dict)  # onnxruntime, numpy, python
    outcomes: list[RuntimeOutcome] = field(default_factory=list)
    stages: dict[str, float] = field(default_factory=dict)
    started: str | None = None
    finished: str | None = None
    output_tail: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)  # artifact key -> the evidence key of its outcomes
    decision: dict[str, Any] = field(default_factory=dict)  # what the last run did per artifact: reused or rerun
    schema_version: int = SCHEMA_VERSION

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RuntimeResult:
        data = dict(data)
        data["outcomes"] = [RuntimeOutcome(**o) for o in data.get("outcomes", [])]
        return cls(**data)
