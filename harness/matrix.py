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

    def expected(self, model: str, check: str) -> Expectation | None:
        return next((e for e in self.expectations if e.applies(model, check)), None)


@dataclass(frozen=True)
class Matrix:
    path: Path
    cells: tuple[Cell, ...]
    models: tuple[str, ...]
    strategies: tuple[str, ...]
    tolerance: dict[str, Any]
    gate: dict[str, Any]
    raw: dict[str, Any]

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
    cells = []
    for table in raw.get("cell", []):
        try:
            expectations = tuple(
                Expectation(e.get("model", "*"), e["check"], e.get("outcome", "fail"), e.get("reason", ""))
                for e in table.get("expect", [])
            )
            cells.append(
                Cell(
                    id=table["id"],
                    torch=str(table["torch"]),
                    pins={k: str(v) for k, v in table.get("pins", {}).items()},
                    timeout_s=int(table.get("timeout_s", defaults.get("timeout_s", 900))),
                    expectations=expectations,
                    find_links=bool(table.get("find_links", False)),
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
        models=tuple(defaults.get("models", ("deeplog", "mscred"))),
        strategies=tuple(defaults.get("strategies", ("legacy", "dynamo", "auto"))),
        tolerance=dict(raw.get("tolerance", {})),
        gate=dict(raw.get("gate", {})),
        raw=raw,
    )
