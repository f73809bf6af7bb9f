"""`alog-matrix gha-matrix`: print the cells as a GitHub Actions matrix, one job per cell.

Output (one line, for $GITHUB_OUTPUT): {"include": [{"cell": "<id>", "torch": "<version>"}, ...]}.
Needs only the standard library, so CI can run it as `python -m harness.cli gha-matrix` before installing
anything (the entry point imports only the module of the subcommand it runs).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from converter.errors import AlogError
from harness.config.matrix import Matrix, load_matrix


def gha_matrix(matrix: Matrix, cells: list[str] | None = None) -> dict[str, Any]:
    chosen = [matrix.cell(c) for c in cells] if cells else list(matrix.cells)
    if not chosen:
        raise AlogError(f"{matrix.path} lists no cells")
    return {"include": [{"cell": c.id, "torch": c.torch} for c in chosen]}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--matrix", type=Path, default=None,
                        help="the matrix file (default: gate.toml, else matrix.toml, in the current folder)")
    parser.add_argument("--cells", nargs="+", default=None, metavar="ID", help="only these cells")


def run(args: argparse.Namespace) -> int:
    print(json.dumps(gha_matrix(load_matrix(args.matrix), args.cells), separators=(",", ":")))
    return 0
