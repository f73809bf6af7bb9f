"""What a check is given: the cell (its matrix, work folder, stage clock and the run's golden data), and
the one model under test.

Work shared by several checks (the signature probe, the pipeline on this torch, loading the golden
checkpoints, the strategies' exports, the parity suite, the engine build) runs once, the first time a
check asks for it, in its own stage; what it returned, or the exception it raised, is kept and handed to
every later check.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from converter.compare import Tolerance
from converter.errors import describe
from harness.checks.models import ModelUnderTest, Training, export_strategies, keep_artifacts, load_golden, train
from harness.checks.registry import NoEvidence, NotReached
from harness.config.matrix import Cell, Matrix

StageHook = Callable[[str], None]


class Stages:
    """Seconds per stage (the report and the bench read them). A stage entered inside another pauses the
    outer one, so every second is counted once. ``on_enter`` announces a stage; ``on_change`` saves."""

    def __init__(self, seconds: dict[str, float], on_enter: StageHook = lambda s: None,
                 on_change: Callable[[], None] = lambda: None):
        self.seconds = seconds
        self.on_enter = on_enter
        self.on_change = on_change
        self._open: list[tuple[str, float]] = []

    def _add(self, name: str, since: float) -> None:
        self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - since, 3)

    def timed(self, name: str):
        stages = self

        class _Timer:
            def __enter__(self) -> None:
                if stages._open:
                    outer, since = stages._open[-1]
                    stages._add(outer, since)
                stages._open.append((name, time.perf_counter()))
                stages.on_enter(name)

            def __exit__(self, *exc: object) -> None:
                _, since = stages._open.pop()
                stages._add(name, since)
                if stages._open:
                    stages._open[-1] = (stages._open[-1][0], time.perf_counter())
                stages.on_change()

        return _Timer()


@dataclass
class CellContext:
    cell: Cell
    matrix: Matrix
    work: Path
    stages: Stages
    golden_dir: Path | None = None  # the run's golden data (harness.golden); None: no golden evidence
    keep_dir: Path | None = None  # where the cell's artifacts are kept (reports/artifacts/<cell>)
    _done: dict[str, tuple[bool, Any]] = field(default_factory=dict)

    @cached_property
    def tolerance(self) -> Tolerance:
        return self.matrix.tolerance

    @property
    def strategies(self) -> tuple[str, ...]:
        return self.matrix.strategies

    def once(self, key: str, stage: str, work: Callable[[], Any]) -> Any:
        """``work()``'s result the first time, in ``stage``; the same result (or exception) after that."""
        if key not in self._done:
            with self.stages.timed(stage):
                try:
                    self._done[key] = (True, work())
                except Exception as exc:  # noqa: BLE001 - kept and re-raised to every check that asks
                    self._done[key] = (False, exc)
        ok, value = self._done[key]
        if not ok:
            raise value
        return value

    def signature(self):
        from harness.checks import probes

        return self.once("signature", "probe", lambda: probes.exporter_signature(self.work))

    def training(self) -> Training:
        return self.once("training", "train", lambda: train(self.matrix, self.work, self.tolerance))

    def golden(self):
        from harness.golden.store import Golden

        folder = self.golden_dir
        if folder is None:
            raise NoEvidence("no golden data was given to this cell (alog-matrix run makes it; run-cell takes "
                             "--golden DIR)")
        return self.once("golden", "load", lambda: Golden.load(folder))

    def load(self, name: str) -> ModelUnderTest:
        """The golden checkpoint of ``name`` loaded in this torch (the checkpoint_load check's subject)."""
        golden = self.golden()
        if name not in golden.models:
            raise NotReached(f"not reached: the run's golden data holds no {name} model")
        return self.once(f"load:{name}", "load", lambda: load_golden(self.matrix.entry(name), golden, self.work))

    def model(self, name: str) -> ModelUnderTest:
        """The model under test; a checkpoint this torch cannot load is recorded once, by checkpoint_load."""
        try:
            return self.load(name)
        except (NotReached, NoEvidence):
            raise
        except Exception as exc:  # noqa: BLE001 - any load failure: the other checks are not reached
            what = "golden checkpoint" if self.matrix.entry(name).reference else "hub entry"
            raise NotReached(f"not reached: the {what} does not load in this torch ({describe(exc)})"
                             ) from None

    def exported(self, name: str) -> ModelUnderTest:
        """The model with every strategy exported (all models at once, in matrix order) and kept."""
        mut = self.model(name)

        def export_all() -> None:
            for other in self.models(exported=False):
                export_strategies(other, self.strategies, self.work, self.tolerance)
                if self.keep_dir is not None:
                    keep_artifacts(other, self.keep_dir)

        self.once("exports", "export", export_all)
        return mut

    def judged(self) -> tuple[str, ...]:
        """The matrix's models this run was given (the golden data says which it lacks), in matrix order."""
        try:
            not_given = self.golden().manifest.get("not_given", {})
        except Exception:  # noqa: BLE001 - no golden data: every model is judged, and each check says why it can't
            return self.matrix.models
        return tuple(m for m in self.matrix.models if m not in not_given)

    def models(self, exported: bool = True) -> Iterator[ModelUnderTest]:
        """The models that loaded, in matrix order."""
        for name in self.judged():
            try:
                yield self.exported(name) if exported else self.model(name)
            except (NotReached, NoEvidence):
                continue


@dataclass
class ModelContext:
    """One model in one cell: what every check function receives."""

    cell: CellContext
    model: str

    @property
    def matrix(self) -> Matrix:
        return self.cell.matrix

    @property
    def work(self) -> Path:
        return self.cell.work

    @property
    def tolerance(self) -> Tolerance:
        return self.cell.tolerance

    def loaded(self) -> ModelUnderTest:
        return self.cell.model(self.model)

    def exported(self) -> ModelUnderTest:
        return self.cell.exported(self.model)
