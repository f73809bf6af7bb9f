"""The gate's policy: which statuses fail the gate, and what an unexpected pass does.

One validation for every reader (matrix.toml's [gate], a report's recorded policy, ``--strict``), so a
misspelled status or an empty list is refused everywhere instead of silently failing nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from converter.errors import AlogError
from harness.ground.names import STATUSES

DEFAULT_FAIL_ON = ("fail", "error", "crash", "timeout")
XPASS_CHOICES = ("warn", "fail")
# Statuses fail_on cannot name: a pass, an accepted failure and a skip never fail the gate; "missing" is
# no evidence (exit 2) whatever the policy says; an xpass fails it through ``xpass = "fail"``.
NEVER_FAIL_ON = ("pass", "xfail", "skip", "missing", "xpass")


@dataclass(frozen=True)
class Policy:
    fail_on: tuple[str, ...] = DEFAULT_FAIL_ON
    xpass: str = "warn"  # "warn": an xpass is an alert; "fail": it fails the gate
    strict: bool = False  # --strict: an xpass fails the gate whatever xpass says

    @property
    def xpass_fails(self) -> bool:
        return self.strict or self.xpass == "fail"

    def to_dict(self) -> dict[str, Any]:
        return {"xpass": self.xpass, "fail_on": list(self.fail_on), "strict": self.strict}

    @classmethod
    def from_mapping(cls, data: Any, source: str, strict: bool = False) -> Policy:
        """Validate a policy table ([gate] of matrix.toml, or a report's "policy"); AlogError names what is wrong."""
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise AlogError(f"{source}: the gate policy must be a table, not {type(data).__name__}")
        unknown = sorted(set(data) - {"xpass", "fail_on", "strict"})
        if unknown:
            raise AlogError(f"{source}: unknown gate policy key(s) {unknown} (keys: xpass, fail_on)")
        xpass = data.get("xpass", "warn")
        if xpass not in XPASS_CHOICES:
            raise AlogError(f"{source}: xpass = {xpass!r}; use one of {', '.join(XPASS_CHOICES)}")
        fail_on = data.get("fail_on", list(DEFAULT_FAIL_ON))
        if not isinstance(fail_on, (list, tuple)) or not fail_on or not all(isinstance(s, str) for s in fail_on):
            raise AlogError(f"{source}: fail_on must be a non-empty list of statuses "
                            f"(e.g. {list(DEFAULT_FAIL_ON)}), got {fail_on!r}")
        wrong = [s for s in fail_on if s not in STATUSES or s in NEVER_FAIL_ON]
        if wrong:
            allowed = [s for s in STATUSES if s not in NEVER_FAIL_ON]
            raise AlogError(f"{source}: fail_on names {wrong}, which fail_on cannot hold (choose from {allowed}; "
                            "an xpass fails the gate with xpass = \"fail\")")
        strict_value = data.get("strict", False)
        if not isinstance(strict_value, bool):
            raise AlogError(f"{source}: strict must be true or false, got {strict_value!r}")
        return cls(tuple(fail_on), xpass, bool(strict or strict_value))
