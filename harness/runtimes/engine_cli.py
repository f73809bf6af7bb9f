"""`alog-matrix engine --build`: build the C engine into the state folder now (the first run that needs it
would), and print the binary's path. The build is reused while the engine's source digest is unchanged."""

from __future__ import annotations

import argparse
from pathlib import Path

from converter.errors import AlogError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--build", action="store_true", help="build it (or find the build of these sources)")
    parser.add_argument("--matrix", type=Path, default=None,
                        help="the matrix file whose state folder holds the build (default: the current folder's)")
    parser.add_argument("--state-dir", type=Path, default=None, metavar="DIR",
                        help="the state folder (default: .alog-matrix beside the matrix file)")


def run(args: argparse.Namespace) -> int:
    from harness.config.matrix import find_matrix
    from harness.ground.paths import state_for
    from harness.runtimes.engine import ensure_built

    if not args.build:
        raise AlogError("say what to do: alog-matrix engine --build")
    matrix_path = args.matrix or find_matrix()
    binary = ensure_built(build_root=state_for(matrix_path, args.state_dir).engine)
    print(binary)
    return 0
