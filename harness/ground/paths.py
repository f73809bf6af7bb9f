"""Where the harness keeps its state: one definition for every command.

A run's state lives beside the matrix file it runs, never in the source tree or site-packages: venvs,
scratch, the built C engine, the cells' wheel of alog-detect and bytecode under ``<matrix folder>/.alog-matrix``
(or ``--state-dir``), the reports under ``<matrix folder>/reports`` (or ``--out``). The checkout's own
matrix.toml keeps the checkout's paths: ``.nox/cells``, ``.nox/runtimes``, ``.nox/work`` and ``reports/``.
Standard library only: noxfile.py imports it before anything is installed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # harness/ground/paths.py -> the checkout (or site-packages)
STATE_FOLDER = ".alog-matrix"
REPORTS_FOLDER = "reports"


@dataclass(frozen=True)
class State:
    """The folders of one state directory and its reports."""

    root: Path
    reports: Path

    @property
    def cell_envs(self) -> Path:
        return self.root / "cells"

    @property
    def runtime_envs(self) -> Path:
        return self.root / "runtimes"

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def engine(self) -> Path:
        return self.root / "engine"

    @property
    def wheels(self) -> Path:
        return self.root / "wheels"

    @property
    def pycache(self) -> Path:
        return self.root / "pycache"


# The checkout's own state (its nox sessions and tests): .nox and reports/ of the checkout.
CHECKOUT_STATE = State(ROOT / ".nox", ROOT / REPORTS_FOLDER)


def state_for(matrix_path: Path, state_dir: Path | None = None, reports: Path | None = None) -> State:
    """The state of a run of ``matrix_path``: beside it unless a folder is given."""
    matrix_path = Path(matrix_path).resolve()
    base = matrix_path.parent
    default = CHECKOUT_STATE if matrix_path == ROOT / "matrix.toml" else State(base / STATE_FOLDER,
                                                                               base / REPORTS_FOLDER)
    return State(Path(state_dir).resolve() if state_dir is not None else default.root,
                 Path(reports).resolve() if reports is not None else default.reports)
