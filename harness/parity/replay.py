"""Replay a repro bundle, and the kit's command line: ``python -m harness.parity replay BUNDLE | layout``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from converter import artifacts, checkpoint
from converter.compare import Tolerance
from converter.errors import AlogError
from harness.parity.bundles import BUNDLE_FILE, BUNDLE_FORMAT
from harness.parity.layout import ARTIFACTS_LAYOUT
from harness.parity.properties import ParityContext, compare_outputs, ort_output_or_problem, topg_decisions
from harness.parity.sessions import SessionCache
from harness.parity.subjects import Subject


def _hub_model(described: dict, weights: Path) -> torch.nn.Module:
    from converter import hub

    shape = described.get("shape")
    entry = hub.HubEntry(Path(described["hub"]), described["entry"], described["interface"],
                         dict(described.get("kwargs") or {}), weights, described.get("window"),
                         tuple(shape) if shape else None)
    return hub.load(entry).module


def replay(bundle: str | Path, sessions: SessionCache | None = None) -> tuple[bool, str]:
    """Rerun a bundle: (still failing?, one-paragraph report)."""
    bundle = Path(bundle)
    doc_path = bundle / BUNDLE_FILE
    if not doc_path.is_file():
        raise AlogError(f"{bundle} is not a parity repro bundle (no {BUNDLE_FILE})")
    try:
        doc = json.loads(doc_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise AlogError(f"cannot read {doc_path}: {exc}") from None
    if doc.get("format") != BUNDLE_FORMAT:
        raise AlogError(f"{doc_path} is not a parity repro bundle")
    tolerance = Tolerance.from_mapping(doc.get("tolerance"))
    x = np.load(bundle / "input.npy")
    if (bundle / "model.pth").is_file() and doc.get("hub"):  # a hub model: its hubconf.py builds it again
        model = _hub_model(doc["hub"], bundle / "model.pth")
        source = f"PyTorch (model.pth in hub entry {doc['hub'].get('entry')})"
    elif (bundle / "model.pth").is_file():
        model, _ = checkpoint.load(bundle / "model.pth", doc["model_type"])
        source = "PyTorch (model.pth)"
    else:
        model, source = None, "expected.npy"
    subject = Subject(f"bundle {bundle.name}", doc["model_type"], model or torch.nn.Identity(),
                      bundle / "model.onnx", None, doc["input_name"], doc["output_name"])
    expected = subject.torch_output(x) if model is not None else np.load(bundle / "expected.npy")
    ctx = ParityContext(sessions or SessionCache(), tolerance)
    actual, problem = ort_output_or_problem(subject, x, ctx)
    comparison = compare_outputs(subject, x, expected, actual, problem, tolerance)
    lines = [f"reference: {source}; torch {torch.__version__}",
             ("numeric parity holds: " if comparison else "numeric parity FAILS: ") + comparison.describe()]
    failing = not comparison
    if doc.get("kind") == "topg" and actual is not None and not comparison.problem:
        g = int(doc.get("details", {}).get("top_g", artifacts.DEFAULT_TOP_G))
        outcome = topg_decisions(expected, actual, g, tolerance)
        failing = not outcome.ok
        lines.append(f"top-{g}: {outcome.agree} rows agree, {outcome.ties} ties, "
                     f"{len(outcome.disagreements)} disagree" + ("" if outcome.ok else f": {outcome.disagreements[0]}"))
    return failing, "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.parity", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rp = sub.add_parser("replay", help="rerun a repro bundle; exit 1 while the failure reproduces")
    rp.add_argument("bundle")
    sub.add_parser("layout", help="print the --artifacts layout the parity suite accepts")
    args = parser.parse_args(argv)
    if args.command == "layout":
        print(ARTIFACTS_LAYOUT)
        return 0
    try:
        failing, report = replay(args.bundle)
    except AlogError as exc:
        print(f"python -m harness.parity: error: {exc}", file=sys.stderr)
        return 2
    print(report)
    print("reproduced: the failure is still there" if failing else "not reproduced: parity holds now")
    return 1 if failing else 0
