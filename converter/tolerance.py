"""The tolerance policy's values (``converter.compare`` applies them). Standard library only: a matrix file's
[tolerance] is read into one of these where numpy is not installed (the report and the gate, the CI planner)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Tolerance:
    atol: float = 1e-5
    rtol: float = 1e-4
    max_outlier_fraction: float = 0.0

    @classmethod
    def from_mapping(cls, data: dict[str, Any] | None) -> Tolerance:
        data = data or {}
        known = {k: float(data[k]) for k in ("atol", "rtol", "max_outlier_fraction") if k in data}
        return cls(**known)

    @property
    def rel_floor(self) -> float:
        return self.atol / self.rtol if self.rtol > 0 else 1.0


DEFAULT_TOLERANCE = Tolerance()
