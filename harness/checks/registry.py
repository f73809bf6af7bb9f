"""The check registry: every check of a cell is one function registered here under its name.

A check takes the context of one model in one cell (``harness.checks.context.ModelContext``) and
returns one ``Outcome``: passed or not, with its figures and details. The registry's order is the
order checks run in and the order ``harness.ground.records.CHECKS`` and the report show. Adding a check is
adding a registered function to a family module listed in ``harness/checks/__init__.py``.

This module imports nothing heavy: the report and the gate read the registry without torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.checks.context import ModelContext


@dataclass
class Outcome:
    """What one check found for one model. ``passed`` None means the check did not apply (a skip)."""

    passed: bool | None
    error: str | None = None  # first line of the failure, shown in the grid's tooltip and the gate
    root_cause: str | None = None  # innermost exception, "Type: message"
    figures: dict[str, Any] = field(default_factory=dict)  # max_abs_error, examples, seconds, ...
    detail: dict[str, Any] = field(default_factory=dict)  # exporter used, opset, input dims, ...
    warnings: list[dict[str, str]] = field(default_factory=list)
    repro: str | None = None  # a reproduction bundle, on failure
    replay: str | None = None  # the exact command that replays the bundle
    seconds: float | None = None

    @classmethod
    def skip(cls, reason: str, **kw: Any) -> Outcome:
        return cls(None, error=reason, **kw)


class NotReached(Exception):
    """A check cannot run because something it needs stopped earlier (that failure is recorded once, elsewhere)."""


class NoEvidence(Exception):
    """A check cannot run because something it needs is absent: recorded as ``missing``, never as a pass
    (nor as an xfail: an expectation accepts a failure that was seen, not one that was never measured).
    ``detail`` is kept on the record (the command that would have measured it, what it printed)."""

    def __init__(self, message: str, detail: dict[str, Any] | None = None):
        super().__init__(message)
        self.detail: dict[str, Any] = dict(detail or {})


CheckFn = Callable[["ModelContext"], Outcome]


@dataclass(frozen=True)
class Check:
    name: str
    run: CheckFn
    stage: str  # the progress / timing stage the check runs in
    meaning: str  # what an unexpected pass (xpass) of this check most likely means; {model} {torch} filled in
    strategy: str | None = None  # the export strategy the check is about (skipped when not configured)


REGISTRY: list[Check] = []


def check(name: str, *, stage: str, meaning: str, strategy: str | None = None) -> Callable[[CheckFn], CheckFn]:
    """Register ``fn`` as the check ``name``; registration order is the run and report order."""

    def register(fn: CheckFn) -> CheckFn:
        if any(c.name == name for c in REGISTRY):
            raise ValueError(f"check {name!r} is registered twice")
        REGISTRY.append(Check(name, fn, stage, meaning, strategy))
        return fn

    return register
