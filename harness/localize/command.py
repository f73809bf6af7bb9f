"""`alog-matrix localize`: name the first node where an artifact's numbers go wrong for one input.

    alog-matrix localize --model M.onnx --input X.npy [--checkpoint C.pth] [--opt-level L] [--runtime ID]

The work is ``harness.localize.diagnose``; this module only parses (and imports nothing heavy, so the
report and the gate stay torch-free).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from converter.errors import AlogError, describe


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, required=True, help="the ONNX artifact")
    parser.add_argument("--input", type=Path, required=True, help="the failing input (NPY)")
    parser.add_argument("--checkpoint", type=Path, default=None, help="the PyTorch weights it was exported from")
    parser.add_argument("--opt-level", default="all", choices=("disabled", "basic", "extended", "all"))
    parser.add_argument("--runtime", default=None, help="run ONNX Runtime in this [[runtime]]'s venv (matrix.toml)")
    parser.add_argument("--matrix", type=Path, default=None, help="matrix.toml (for --runtime and the tolerance)")
    parser.add_argument("--out", type=Path, default=None,
                        help="write divergence.json and .txt, and the repro bundle repro/, into this folder")
    parser.add_argument("--state-dir", type=Path, default=None,
                        help="the state folder holding --runtime's venv (default: .alog-matrix beside the matrix)")


def _read_input(model_path: Path, input_path: Path):
    """The input as an array the model takes, or one clear line saying why not (never a traceback)."""
    import numpy as np
    import onnx
    from onnx import helper

    for flag, path in (("--model", model_path), ("--input", input_path)):
        if not path.is_file():
            raise AlogError(f"{flag} {path}: " + ("no such file" if not path.exists() else "not a file"))
    try:
        proto = onnx.load(str(model_path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - protobuf fails in many ways on a foreign file
        raise AlogError(f"--model {model_path} is not an ONNX model ({describe(exc)})") from None
    try:
        x = np.load(input_path, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - truncated, pickled or foreign files
        raise AlogError(f"--input {input_path} is not a NumPy .npy array ({describe(exc)})") from None
    if not isinstance(x, np.ndarray) or not proto.graph.input:
        raise AlogError(f"--input {input_path} is an archive of arrays; give one .npy array")
    wanted = proto.graph.input[0].type.tensor_type
    dtype = np.dtype(helper.tensor_dtype_to_np_dtype(wanted.elem_type))
    dims = [d.dim_value if d.HasField("dim_value") else None for d in wanted.shape.dim]
    fixed_differ = x.ndim == len(dims) and any(d is not None and d != n for d, n in zip(dims, x.shape, strict=True))
    if x.dtype != dtype or x.ndim != len(dims) or fixed_differ:
        shown = ["?" if d is None else d for d in dims]
        raise AlogError(f"--input {input_path} is {x.dtype} {list(x.shape)}; the model takes {dtype} {shown}")
    return x


def run(args: argparse.Namespace) -> int:
    from converter.compare import Tolerance
    from harness.config.matrix import MATRIX_NAMES, load_matrix
    from harness.ground.paths import state_for
    from harness.localize.diagnose import localize, write
    from harness.localize.remote import values_in_runtime

    # The matrix gives the tolerance (and --runtime's venv): --matrix, else the current folder's, if any.
    found = [Path(name) for name in MATRIX_NAMES if Path(name).is_file()]
    matrix = load_matrix(args.matrix) if args.matrix or args.runtime or found else None
    x = _read_input(args.model, args.input)
    level_values = None
    if args.runtime and matrix is not None:
        env_root = state_for(matrix.path, args.state_dir).runtime_envs
        level_values = values_in_runtime(matrix, args.runtime, args.model, x, args.opt_level, env_root)
    report = localize(args.model, x, args.checkpoint, opt_level=args.opt_level,
                      tolerance=matrix.tolerance if matrix is not None else Tolerance(), level_values=level_values)
    if args.out:
        from harness.localize.diagnose import localize_command
        from harness.localize.repro import FOLDER, write_repro

        args.out.mkdir(parents=True, exist_ok=True)
        report["command"] = localize_command(args.model, args.input, args.checkpoint, args.opt_level, args.out,
                                             args.runtime, args.matrix)
        write(report, args.out)
        # repro.py is checked where the numbers were seen: the runtime's venv, else this interpreter
        python = None
        if args.runtime and matrix is not None:
            from harness.envs import venvs as envs

            runtime_envs = state_for(matrix.path, args.state_dir).runtime_envs
            python = envs.ensure_env(matrix.runtime(args.runtime), runtime_envs).python
        tolerance = matrix.tolerance if matrix is not None else Tolerance()
        write_repro(args.out / FOLDER, args.model, x, report, tolerance=tolerance, command=report["command"],
                    checkpoint=args.checkpoint, python=python, runtime=args.runtime)
    print("\n".join(report["lines"]))
    print(json.dumps({"verdict": report["verdict"]}))
    return 0
