"""`alog-matrix repro`: an issue-ready repro bundle (``harness.localize.repro``) for any kept artifact, on demand.

    alog-matrix repro CELL/STRATEGY/MODEL [--runtime ID] [--out DIR] [--matrix M] [--opt-level L] [--reports DIR]

The case is the first golden case that fails at the level (the runtime's own result names it when there is
one), else the smallest case: then the bundle's repro.py exits 0, the numbers agree. With ``--runtime`` the
values at the level are that runtime's and repro.py is checked in its venv. The work is imported only in
``run`` (the cli imports this module to declare the options).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from converter.artifacts import OPT_LEVELS
from converter.errors import AlogError
from harness.runtimes.catalog import KeptArtifact, discover


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("artifact", metavar="CELL/STRATEGY/MODEL",
                        help="a kept artifact, reports/artifacts/<cell>/<strategy>/<model>.onnx")
    parser.add_argument("--runtime", default=None, help="a [[runtime]] of matrix.toml: its values, its venv")
    parser.add_argument("--out", type=Path, default=None,
                        help="the bundle's folder (default: <reports>/repro/<cell>-<strategy>-<model>-<level>)")
    parser.add_argument("--matrix", type=Path, default=None, help="matrix.toml (the tolerance and --runtime)")
    parser.add_argument("--opt-level", default="all", choices=OPT_LEVELS)
    parser.add_argument("--reports", type=Path, default=None,
                        help="the run's output folder, with artifacts/ and golden/ (default: reports/ beside the "
                        "matrix)")
    parser.add_argument("--state-dir", type=Path, default=None, metavar="DIR",
                        help="the state folder holding --runtime's venv (default: .alog-matrix beside the matrix)")


def find_artifact(reports: Path, key: str, models: tuple[str, ...]) -> KeptArtifact:
    """The kept artifact ``key`` names (a model of the matrix), with its golden cases, or one line saying what is
    wrong."""
    parts = key.split("/")
    if len(parts) != 3 or not all(parts):
        raise AlogError(f"{key!r} is not CELL/STRATEGY/MODEL (for example torch-2.13.0/auto/deeplog)")
    cell, strategy, model = parts
    if model not in models:
        raise AlogError(f"{key}: no model {model!r} (models: {', '.join(models)})")
    artifact = KeptArtifact(cell, strategy, model, reports / "artifacts" / cell / strategy / f"{model}.onnx")
    if not artifact.onnx.is_file():
        kept = [a.key for a in discover(reports / "artifacts")]
        shown = f"kept: {', '.join(kept[:8])}{', …' if len(kept) > 8 else ''}" if kept else "none is kept there"
        raise AlogError(f"no kept artifact {key} at {artifact.onnx} ({shown})")
    if not artifact.golden.is_file():
        raise AlogError(f"{key} has no golden cases beside it ({artifact.golden} is missing)")
    return artifact


def _failed_in_runtime(reports: Path, runtime: str, key: str, level: str) -> str | None:
    """The case the runtime's own result says failed for this artifact at this level in Python."""
    from harness.ground.records import RuntimeResult

    path = reports / "runtimes" / f"{runtime}.json"
    if not path.is_file():
        return None
    for outcome in RuntimeResult.read(path).outcomes:
        if (outcome.artifact, outcome.level, outcome.engine, outcome.status) == (key, level, "python", "fail"):
            return outcome.figures.get("failed_case")
    return None


def choose_case(artifact: KeptArtifact, level: str, tolerance: Any, named: str | None) -> tuple[str, Any, Any]:
    """(case, input, golden output): ``named``, else the first case this ONNX Runtime gets wrong, else the smallest."""
    import numpy as np

    from converter.compare import compare
    from converter.ortsession import ort_session

    with np.load(artifact.golden) as data:
        cases = {k[3:]: (data[k], data[f"out_{k[3:]}"]) for k in data.files if k.startswith("in_")}
    if not cases:
        raise AlogError(f"{artifact.golden} holds no golden case")
    if named is not None and named in cases:
        return named, *cases[named]
    session = ort_session(artifact.onnx, opt_level=level)
    feed, output = session.get_inputs()[0].name, session.get_outputs()[0].name
    for name, (x, expected) in cases.items():
        if not compare(expected, session.run([output], {feed: x})[0], tolerance, name):
            return name, x, expected
    smallest = min(cases, key=lambda name: cases[name][0].size)
    return smallest, *cases[smallest]


def run(args: argparse.Namespace) -> int:
    from harness.config.matrix import load_matrix
    from harness.envs import venvs as envs
    from harness.golden.store import Golden
    from harness.ground.paths import state_for
    from harness.localize.diagnose import localize, write
    from harness.localize.remote import values_in_runtime
    from harness.localize.repro import run_script, write_repro

    matrix = load_matrix(args.matrix)
    runtime = matrix.runtime(args.runtime) if args.runtime else None  # an unknown id is one line, before any work
    state = state_for(matrix.path, args.state_dir, args.reports)
    args.reports = state.reports
    artifact = find_artifact(args.reports, args.artifact, matrix.models)
    named = _failed_in_runtime(args.reports, runtime.id, artifact.key, args.opt_level) if runtime else None
    case, x, expected = choose_case(artifact, args.opt_level, matrix.tolerance, named)
    checkpoint = None
    if (args.reports / "golden" / "manifest.json").is_file():  # the PyTorch side of the localization
        golden = Golden.load(args.reports / "golden")
        found = golden.checkpoint(artifact.model) if artifact.model in golden.models else None
        checkpoint = found if found is not None and found.is_file() else None
    hub, kind = matrix.torch_side(artifact.model)
    level_values = values_in_runtime(matrix, runtime.id, artifact.onnx, x, args.opt_level,
                                     state.runtime_envs) if runtime else None
    report = localize(artifact.onnx, x, checkpoint, kind, args.opt_level, matrix.tolerance,
                      level_values=level_values, hub=hub)
    suffix = f"-{runtime.id}" if runtime else ""
    name = f"{artifact.cell}-{artifact.strategy}-{artifact.model}-{args.opt_level}{suffix}"
    out = args.out or args.reports / "repro" / name
    words = ["alog-matrix", "repro", artifact.key, "--opt-level", args.opt_level, "--reports",
             str(args.reports.resolve()), "--matrix", str(matrix.path.resolve()), "--out", str(Path(out).resolve())]
    report["command"] = shlex.join(words + (["--runtime", runtime.id] if runtime else []))
    report["case"] = case
    python = envs.ensure_env(runtime, state.runtime_envs).python if runtime else None
    write_repro(out, artifact.onnx, x, report, tolerance=matrix.tolerance, command=report["command"],
                checkpoint=checkpoint, kind=kind, hub=hub, expected=expected, python=python,
                runtime=runtime.id if runtime else None)
    write(report, out)
    seen = run_script(out, python)
    figures = ", ".join(f"{part} max abs error {f['max_abs_error']:.3g}" for part, f in seen["parts"].items())
    print("\n".join(report["lines"]))
    print(f"{out}: case {case}; repro.py exits {seen['exit']} on onnxruntime {seen.get('onnxruntime')} ({figures})",
          file=sys.stdout)
    return 0
