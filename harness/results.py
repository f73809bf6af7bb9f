"""Cell result records: the one format that flows from a cell to the report and the gate.

A cell writes ``reports/cells/<cell_id>.json`` (atomically) holding a ``CellResult``.
The report and the gate read only these files.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from converter import atomic

SCHEMA_VERSION = 1

# pass/fail are judged against the cell's expectations: an expected failure that fails is
# ``xfail``, one that passes is ``xpass``. ``error`` = the check itself broke (harness bug or
# unexpected exception), ``crash``/``timeout`` = the cell's process died or hung (set by the parent).
STATUSES = ("pass", "fail", "xfail", "xpass", "error", "skip", "crash", "timeout")

# Checks recorded per model, in report order.
CHECKS = (
    "exporter_signature",
    "default_call",
    "legacy_export",
    "typeerror_fallback",
    "dynamo_export",
    "auto_export",
    "dynamic_axes",
    "parity",
    "cengine",
    "warnings",
)

MODELS = ("deeplog", "mscred")


@dataclass
class CheckResult:
    model: str
    check: str
    status: str
    expected: str = "pass"  # "pass" or "fail" (from matrix.toml expectations)
    reason: str | None = None  # why a failure is expected (matrix.toml), shown on xfail/xpass
    error: str | None = None  # first line of the exception or failure message
    root_cause: str | None = None  # innermost exception: "Type: message"
    warnings: list[dict[str, str]] = field(default_factory=list)  # {"category": ..., "message": ...}
    figures: dict[str, Any] = field(default_factory=dict)  # max_abs_error, max_rel_error, examples, seconds...
    detail: dict[str, Any] = field(default_factory=dict)  # exporter used, opset, op types, input dims...
    repro: str | None = None  # path of a reproduction bundle, on failure
    seconds: float | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}")


@dataclass
class CellResult:
    cell_id: str
    status: str  # "complete", "crash", "timeout", "error"
    environment: dict[str, Any] = field(default_factory=dict)  # python, torch, numpy, onnx, ...
    checks: list[CheckResult] = field(default_factory=list)
    stages: dict[str, float] = field(default_factory=dict)  # stage name -> seconds
    started: str | None = None
    finished: str | None = None
    signal: str | None = None  # crash: the signal name; timeout: "timeout"
    output_tail: str | None = None  # last lines of the cell's output when it died
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CellResult":
        data = dict(data)
        data["checks"] = [CheckResult(**c) for c in data.get("checks", [])]
        return cls(**data)

    def write(self, path: str | Path) -> None:
        atomic.write_json(path, self.to_dict())

    @classmethod
    def read(cls, path: str | Path) -> "CellResult":
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
