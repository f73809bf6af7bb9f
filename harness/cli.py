"""`alog-matrix`: the entry point. Each subcommand lives in its own module with ``add_arguments(parser)``
and ``run(args) -> int`` (the exit code); only the module of the subcommand asked for is imported, so
``gha-matrix`` runs on the standard library alone and ``run-cell`` loads nothing of the report.

Exit codes and the error policy: ``harness.ground.exits``. Nothing imports this module.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from harness.ground.exits import run_command

# subcommand -> (module, one-line help)
COMMANDS = {
    "run": ("harness.run.orchestrator", "run the matrix (every cell, or --cells), then report and gate"),
    "run-cell": ("harness.run.cell", "run one cell's checks inside the current environment"),
    "report": ("harness.report.build", "build reports/index.html, matrix.json, junit.xml and summary.md"),
    "gate": ("harness.report.gate", "turn reports/matrix.json into a verdict and an exit code"),
    "gha-matrix": ("harness.run.fanout", "print the cells as a GitHub Actions matrix"),
    "localize": ("harness.localize.command", "name the first node where an artifact's numbers go wrong"),
    "init": ("harness.config.starter", "write a starter gate.toml here (and with --github, the CI workflow)"),
    "engine": ("harness.runtimes.engine_cli", "build the C engine into the state folder and print its path"),
    "repro": ("harness.runtimes.repro_command", "write an issue-ready repro bundle for a kept artifact"),
    "history": ("harness.report.history_cli", "the runs recorded so far, and when each moved row changed and why"),
}


def build_parser(chosen: str | None = None) -> argparse.ArgumentParser:
    """Every subcommand is listed; only ``chosen``'s module is imported to declare its options."""
    parser = argparse.ArgumentParser(prog="alog-matrix", description="the release matrix of alog-detect: "
                                     "cells, runtimes, report and gate")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            module = importlib.import_module(module_name)
            module.add_arguments(sub_parser)
            sub_parser.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    chosen = next((word for word in argv if not word.startswith("-")), None)
    args = build_parser(chosen if chosen in COMMANDS else None).parse_args(argv)  # usage errors exit 2 here
    return run_command(f"alog-matrix {args.command}", lambda: args._module.run(args))


if __name__ == "__main__":
    sys.exit(main())
