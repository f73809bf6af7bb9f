"""``python -m harness.runtimes``: one runtime's runner, in that runtime's venv (started by the runtime stage).

The work is ``harness.runtimes.runner``; this entry only parses its options.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.config.matrix import load_matrix
from harness.ground.exits import run_command
from harness.ground.protocol import arm_exit_fault
from harness.runtimes.runner import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.runtimes",
                                     description="run every kept artifact in one runtime")
    parser.add_argument("--runtime", required=True)
    parser.add_argument("--matrix", type=Path, required=True)
    parser.add_argument("--artifacts", type=Path, required=True, help="reports/artifacts")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--engine", type=Path, default=None, help="the C engine binary (none: Python only)")
    parser.add_argument("--skip", action="append", default=[], help="an artifact key not to run (crashed on before)")
    parser.add_argument("--described", type=Path, default=None,
                        help="the stage's artifacts.json: artifacts with one graph digest are run once")
    args = parser.parse_args(argv)

    def body() -> int:
        arm_exit_fault(args.runtime)
        matrix = load_matrix(args.matrix)
        run(matrix.runtime(args.runtime), args.artifacts, args.out, matrix.tolerance,
            args.engine, set(args.skip), args.described)
        return 0

    return run_command("alog-matrix runtime", body)


if __name__ == "__main__":
    sys.exit(main())
