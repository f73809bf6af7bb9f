"""Load matrix.toml: the cells, their pins and expectations, tolerances and the gate policy."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from converter.errors import AlogError
from harness.policy import Policy
from harness.results import CHECKS

DEFAULT_MATRIX = Path(__file__).resolve().parent.parent / "matrix.toml"


@dataclass(frozen=True)
class Expectation:
    model: str  # a model name or "*"
    check: str
    outcome: str  # "fail" (a known, accepted failure) or "pass"
    reason: str

    def applies(self, model: str, check: str) -> bool:
        return self.model in ("*", model) and self.check == check


@dataclass(frozen=True)
class Cell:
    id: str
    torch: str
    pins: dict[str, str] = field(default_factory=dict)
    timeout_s: int = 900
    expectations: tuple[Expectation, ...] = ()
    find_links: bool = False  # take torch from the local wheel folder pip is configured with
    python: str = "3.11"

    def requirements(self) -> list[str]:
        """torch and its companion pins as requirement strings ("1.26.4" -> "numpy==1.26.4")."""
        reqs = [_requirement("torch", self.torch)]
        reqs += [_requirement(name, spec) for name, spec in sorted(self.pins.items())]
        return reqs

    def expected(self, model: str, check: str) -> Expectation | None:
        return next((e for e in self.expectations if e.applies(model, check)), None)


@dataclass(frozen=True)
class Matrix:
    path: Path
    cells: tuple[Cell, ...]
    models: tuple[str, ...]
    strategies: tuple[str, ...]
    tolerance: dict[str, Any]
    policy: Policy
    data: dict[str, Any] = field(default_factory=dict)
    disk: dict[str, Any] = field(default_factory=dict)
    warnings_allowed: tuple[str, ...] = ()
    checks: tuple[str, ...] = CHECKS  # [defaults].checks: the checks the cells run (others are recorded as skip)

    def select(self, ids: list[str] | None) -> tuple[Cell, ...]:
        """The cells named in ``ids`` (in matrix order), or every cell when ``ids`` is empty."""
        if not ids:
            return self.cells
        wanted = set(ids)
        for cell_id in wanted:
            self.cell(cell_id)  # one clear error for an unknown id
        return tuple(c for c in self.cells if c.id in wanted)

    def data_log(self) -> Path | None:
        """The real log the cells train on, or None for the synthetic one."""
        log = self.data.get("log")
        if not log:
            return None
        path = Path(log)
        return path if path.is_absolute() else (self.path.parent / path).resolve()

    def cell(self, cell_id: str) -> Cell:
        for cell in self.cells:
            if cell.id == cell_id:
                return cell
        raise AlogError(f"no cell {cell_id!r} in {self.path} (cells: {', '.join(c.id for c in self.cells)})")


def load_matrix(path: str | Path = DEFAULT_MATRIX) -> Matrix:
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AlogError(f"matrix file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise AlogError(f"matrix file {path} is not valid TOML: {exc}") from None
    defaults = raw.get("defaults", {})
    models = tuple(defaults.get("models", ("deeplog", "mscred")))
    checks = tuple(defaults.get("checks", CHECKS))
    unknown = [c for c in checks if c not in CHECKS]
    if unknown:
        raise AlogError(f"{path}: [defaults].checks names unknown checks {unknown} (checks: {', '.join(CHECKS)})")
    cells = []
    for table in raw.get("cell", []):
        try:
            expectations = tuple(_expectation(path, table["id"], e, models) for e in table.get("expect", []))
            cells.append(
                Cell(
                    id=table["id"],
                    torch=str(table["torch"]),
                    pins={k: str(v) for k, v in table.get("pins", {}).items()},
                    timeout_s=int(table.get("timeout_s", defaults.get("timeout_s", 900))),
                    expectations=expectations,
                    find_links=bool(table.get("find_links", False)),
                    python=str(table.get("python", defaults.get("python", "3.11"))),
                )
            )
        except KeyError as exc:
            raise AlogError(f"{path}: a [[cell]] table lacks the key {exc}") from None
    ids = [c.id for c in cells]
    if len(set(ids)) != len(ids):
        raise AlogError(f"{path}: cell ids repeat: {ids}")
    return Matrix(
        path=path,
        cells=tuple(cells),
        models=models,
        strategies=tuple(defaults.get("strategies", ("legacy", "dynamo", "auto"))),
        tolerance=dict(raw.get("tolerance", {})),
        policy=Policy.from_mapping(raw.get("gate", {}), f"{path} [gate]"),
        data=dict(raw.get("data", {})),
        disk=dict(raw.get("disk", {})),
        warnings_allowed=tuple(raw.get("warnings", {}).get("allow", ())),
        checks=checks,
    )


def _requirement(name: str, spec: str) -> str:
    spec = spec.strip()
    return f"{name}{spec}" if spec[:1] in "<>=!~" else f"{name}=={spec}"


def _expectation(path: Path, cell_id: str, table: dict[str, Any], models: tuple[str, ...]) -> Expectation:
    """One [[cell.expect]] table, checked so that a typo cannot silently expect nothing."""
    exp = Expectation(table.get("model", "*"), table["check"], table.get("outcome", "fail"), table.get("reason", ""))
    where = f"{path}: cell {cell_id!r} expects"
    if exp.check not in CHECKS:
        raise AlogError(f"{where} an unknown check {exp.check!r} (checks: {', '.join(CHECKS)})")
    if exp.model != "*" and exp.model not in models:
        raise AlogError(f"{where} an unknown model {exp.model!r} (models: {', '.join(models)})")
    if exp.outcome not in ("fail", "pass"):
        raise AlogError(f"{where} outcome {exp.outcome!r}; use \"fail\" or \"pass\"")
    if exp.outcome == "fail" and not exp.reason:
        raise AlogError(f"{where} {exp.check!r} to fail without a reason")
    return exp
