"""Walk the registry for one cell and record each (model, check) exactly once.

The recorder judges a check's ``Outcome`` against matrix.toml's expectations (``harness.ground.records.judge``)
and saves the cell's result after every check, so the parent keeps what was measured if this process dies.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from converter.errors import describe, root_cause
from harness.checks.context import CellContext, ModelContext
from harness.checks.registry import REGISTRY, Check, NoEvidence, NotReached, Outcome
from harness.config.matrix import Cell
from harness.ground.records import CellResult, CheckResult, judge


@dataclass
class Recorder:
    cell: Cell
    result: CellResult
    save: Callable[[CellResult], None]

    def _expectation(self, model: str, check: str) -> tuple[str, str | None]:
        expectation = self.cell.expected(model, check)
        return (expectation.outcome, expectation.reason) if expectation else ("pass", None)

    def _add(self, result: CheckResult) -> CheckResult:
        self.result.checks.append(result)
        self.save(self.result)
        return result

    def record(self, model: str, check: str, outcome: Outcome) -> CheckResult:
        expected, reason = self._expectation(model, check)
        status = judge(outcome.passed, expected)
        if status == "skip" and reason is None:
            reason = outcome.error
        return self._add(CheckResult(
            model=model, check=check, status=status, expected=expected, reason=reason, error=outcome.error,
            root_cause=outcome.root_cause, warnings=outcome.warnings, figures=outcome.figures, detail=outcome.detail,
            repro=outcome.repro, replay=outcome.replay, seconds=outcome.seconds))

    def missing(self, model: str, check: str, why: str, detail: dict | None = None) -> CheckResult:
        """No evidence: the check could not run for want of something it needs. The status stays ``missing``
        whatever the cell expects: an expected failure accepts a failure seen, never one not measured."""
        expected, reason = self._expectation(model, check)
        return self._add(CheckResult(model=model, check=check, status="missing", expected=expected, reason=reason,
                                     error=why, detail=dict(detail or {})))

    def error(self, model: str, check: str, exc: BaseException, seconds: float | None = None) -> CheckResult:
        """The check itself broke: its exception, root cause and where it was raised."""
        expected, reason = self._expectation(model, check)
        tb = traceback.extract_tb(exc.__traceback__)
        where = f"{Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else None
        return self._add(CheckResult(
            model=model, check=check, status="error", expected=expected, reason=reason, error=describe(exc),
            root_cause=root_cause(exc), detail={"raised_at": where} if where else {},
            seconds=round(seconds, 3) if seconds is not None else None))

    def run(self, spec: Check, ctx: ModelContext) -> None:
        """Run one check; whatever it raises becomes a record instead of ending the cell."""
        started = time.perf_counter()
        try:
            outcome = spec.run(ctx)
        except NotReached as exc:
            self.record(ctx.model, spec.name, Outcome.skip(str(exc)))
        except NoEvidence as exc:
            self.missing(ctx.model, spec.name, str(exc), exc.detail)
        except Exception as exc:  # noqa: BLE001 - the runner must never die on one check
            self.error(ctx.model, spec.name, exc, time.perf_counter() - started)
        else:
            self.record(ctx.model, spec.name, outcome)


def why_skipped(spec: Check, ctx: CellContext) -> str | None:
    if spec.name not in ctx.matrix.checks:
        return "not selected in [defaults].checks"
    if spec.strategy is not None and spec.strategy not in ctx.strategies:
        return f"the {spec.strategy} strategy is not in [defaults].strategies"
    return None


def run_registry(ctx: CellContext, recorder: Recorder) -> None:
    """Every registered check, in registry order, for every model of the matrix."""
    for spec in REGISTRY:
        with ctx.stages.timed(spec.stage):
            for model in ctx.judged():
                skipped = why_skipped(spec, ctx)
                if skipped:
                    recorder.record(model, spec.name, Outcome.skip(skipped))
                else:
                    recorder.run(spec, ModelContext(ctx, model))
