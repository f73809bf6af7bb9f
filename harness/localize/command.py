"""`alog-matrix localize`: name the first node where an artifact's numbers go wrong for one input.

    alog-matrix localize --model M.onnx --input X.npy [--checkpoint C.pth [--hub NAME]] [--opt-level L]
                         [--runtime ID]

The work is ``harness.localize.diagnose``; this module only parses (and imports nothing heavy, so the
report and the gate stay torch-free).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, required=True, help="the ONNX artifact")
    parser.add_argument("--input", type=Path, required=True, help="the failing input (NPY)")
    parser.add_argument("--checkpoint", type=Path, default=None, help="the PyTorch weights it was exported from")
    parser.add_argument("--hub", default=None, metavar="NAME",
                        help="the matrix's [model.NAME] hub entry: its hubconf.py builds the model --checkpoint "
                        "(a state_dict) is given to")
    parser.add_argument("--opt-level", default="all", choices=("disabled", "basic", "extended", "all"))
    parser.add_argument("--runtime", default=None, help="run ONNX Runtime in this [[runtime]]'s venv (matrix.toml)")
    parser.add_argument("--matrix", type=Path, default=None, help="matrix.toml (for --runtime and the tolerance)")
    parser.add_argument("--out", type=Path, default=None,
                        help="write divergence.json and .txt, and the repro bundle repro/, into this folder")
    parser.add_argument("--state-dir", type=Path, default=None,
                        help="the state folder holding --runtime's venv (default: .alog-matrix beside the matrix)")


def run(args: argparse.Namespace) -> int:
    from converter.compare import Tolerance
    from harness.config.matrix import load_matrix, matrix_here
    from harness.ground.paths import state_for
    from harness.localize.diagnose import localize, write
    from harness.localize.inputs import check_model, read_input
    from harness.localize.remote import values_in_runtime

    # The matrix gives the tolerance (and --runtime's venv): --matrix, else the current folder's, if any.
    matrix = load_matrix(args.matrix) if args.matrix or args.runtime or args.hub or matrix_here() else None
    hub = _hub_entry(matrix, args)
    x = read_input(check_model(args.model), args.input)  # one line for whatever the model or input lacks
    level_values = None
    if args.runtime and matrix is not None:
        env_root = state_for(matrix.path, args.state_dir).runtime_envs
        level_values = values_in_runtime(matrix, args.runtime, args.model, x, args.opt_level, env_root)
    report = localize(args.model, x, args.checkpoint, opt_level=args.opt_level,
                      tolerance=matrix.tolerance if matrix is not None else Tolerance(), level_values=level_values,
                      hub=hub)
    if args.out:
        from harness.localize.diagnose import localize_command
        from harness.localize.repro import FOLDER, write_repro

        args.out.mkdir(parents=True, exist_ok=True)
        report["command"] = localize_command(args.model, args.input, args.checkpoint, args.opt_level, args.out,
                                             args.runtime, args.matrix, hub=hub)
        write(report, args.out)
        # repro.py is checked where the numbers were seen: the runtime's venv, else this interpreter
        python = None
        if args.runtime and matrix is not None:
            from harness.envs import venvs as envs

            runtime_envs = state_for(matrix.path, args.state_dir).runtime_envs
            python = envs.ensure_env(matrix.runtime(args.runtime), runtime_envs).python
        tolerance = matrix.tolerance if matrix is not None else Tolerance()
        write_repro(args.out / FOLDER, args.model, x, report, tolerance=tolerance, command=report["command"],
                    checkpoint=args.checkpoint, kind=report["kind"], hub=hub, python=python, runtime=args.runtime)
    print("\n".join(report["lines"]))
    print(json.dumps({"verdict": report["verdict"]}))
    return 0


def _hub_entry(matrix, args: argparse.Namespace):
    """--hub NAME: the matrix's hub entry, which needs --checkpoint (the weights its model is given)."""
    from converter.errors import AlogError

    if args.hub is None:
        return None
    if args.checkpoint is None:
        raise AlogError("--hub needs --checkpoint: the state_dict the hub entry's model is given")
    entry = matrix.entry(args.hub)
    if entry.reference:
        raise AlogError(f"--hub {args.hub}: {args.hub} is a reference model, not a [model.{args.hub}] hub entry")
    return entry
