"""`alog-matrix` entry point: each subcommand lives in its own module with
``add_arguments(parser)`` and ``run(args) -> int`` (the exit code)."""

from __future__ import annotations

import argparse
import importlib
import sys

from converter.errors import AlogError

# subcommand -> (module, one-line help)
COMMANDS = {
    "run": ("harness.orchestrator", "run the matrix (every cell, or --cells), then report and gate"),
    "run-cell": ("harness.cell_runner", "run one cell's checks inside the current environment"),
    "report": ("harness.report", "build reports/index.html, matrix.json, junit.xml and summary.md"),
    "gate": ("harness.gate", "turn reports/matrix.json into a verdict and an exit code"),
    "gha-matrix": ("harness.fanout", "print the cells as a GitHub Actions matrix"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alog-matrix", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        sub_parser = sub.add_parser(name, help=help_text)
        module.add_arguments(sub_parser)
        sub_parser.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args._module.run(args) or 0)
    except AlogError as exc:
        print(f"alog-matrix: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("alog-matrix: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
