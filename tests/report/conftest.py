"""Fixtures for the report and gate tests: a matrix file and a cells folder in a temporary directory."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import report_factory  # noqa: E402  (the path line above makes it importable)

from harness.config.matrix import Matrix, load_matrix  # noqa: E402


@dataclass
class Workspace:
    root: Path

    @property
    def matrix_path(self) -> Path:
        return self.root / "matrix.toml"

    @property
    def cells_dir(self) -> Path:
        return self.root / "reports" / "cells"

    @property
    def out_dir(self) -> Path:
        return self.root / "reports"

    def write_matrix(self, text: str | None = None, **kwargs) -> Matrix:
        self.matrix_path.write_text(text if text is not None else report_factory.matrix_toml(**kwargs), encoding="utf-8")
        return load_matrix(self.matrix_path)

    def write_cells(self, cells) -> None:
        self.cells_dir.mkdir(parents=True, exist_ok=True)
        report_factory.write_cells(self.cells_dir, cells)


@pytest.fixture
def workspace(tmp_path) -> Workspace:
    ws = Workspace(tmp_path)
    ws.write_matrix()
    ws.cells_dir.mkdir(parents=True)
    return ws


def run_subcommand(name: str, argv: list[str]) -> int:
    """Run one `alog-matrix` subcommand exactly as harness/cli.py dispatches it (parser from the
    module's add_arguments, AlogError -> one line and exit 2), without importing the other subcommands."""
    import argparse
    import importlib

    from converter.errors import AlogError

    module = importlib.import_module({"report": "harness.report.build", "gate": "harness.report.gate", "gha-matrix": "harness.run.fanout"}[name])
    parser = argparse.ArgumentParser(prog=f"alog-matrix {name}")
    module.add_arguments(parser)
    try:
        return int(module.run(parser.parse_args([str(a) for a in argv])) or 0)
    except AlogError as exc:
        print(f"alog-matrix: error: {exc}", file=sys.stderr)
        return 2


@pytest.fixture
def alog_matrix(capsys):
    """Call a subcommand; returns (exit code, stdout, stderr)."""

    def call(name: str, *argv) -> tuple[int, str, str]:
        code = run_subcommand(name, list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return call
