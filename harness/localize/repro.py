"""Issue-ready repro bundles: what a failing or diverging comparison hands to the people who fix it.

``repro/`` holds ``model.onnx``, ``inputs.npz``, ``expected.npz``, ``subgraph.onnx`` (the first diverging node
alone, ``harness.localize.subgraph``, with its own feeds and expected values; kept only when it still diverges
on its own), ``repro.py`` (``harness.localize.standalone``: numpy and onnxruntime only, the level and the CPU
provider pinned; exit 1 on divergence, 0 when the numbers agree) and ``ISSUE.md`` (``harness.localize.issue``).
The script is run once where the divergence was seen (this interpreter, or a runtime's venv): its figures go
into ISSUE.md, and a subgraph that agrees there is dropped with the reason said.

A C-engine-only divergence is this project's bug, not upstream's: ``write_engine_bundle`` writes its bundle with
the engine command instead of a script.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from converter import artifacts, atomic
from converter.compare import Tolerance
from harness.localize import graph, issue, standalone, subgraph, torchside, values
from harness.localize.inputs import model_kind

if TYPE_CHECKING:
    from harness.config.models import ModelEntry

FOLDER = "repro"
SCRIPT = "repro.py"
ORT_LEVELS = {"disabled": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC", "extended": "ORT_ENABLE_EXTENDED",
              "all": "ORT_ENABLE_ALL"}
_PINNED = re.compile(r"# pinned: begin\n.*?# pinned: end\n", re.S)


def script_text(level: str, tolerance: Tolerance) -> str:
    """standalone.py with the bundle's level and tolerance pinned."""
    source = Path(standalone.__file__).read_text(encoding="utf-8")
    pinned = (f"# pinned: begin\nLEVEL = {ORT_LEVELS[level]!r}\nATOL = {tolerance.atol!r}\n"
              f"RTOL = {tolerance.rtol!r}\n# pinned: end\n")
    return _PINNED.sub(lambda _: pinned, source, count=1)


def run_script(folder: Path, python: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Run the bundle's repro.py (isolated: nothing of this checkout on its path) and read its JSON line."""
    done = subprocess.run([str(python or sys.executable), "-I", SCRIPT], cwd=folder, capture_output=True,
                          text=True, timeout=600, check=False)
    lines = done.stdout.strip().splitlines()
    try:
        figures = json.loads(lines[-1])
        for part in figures.get("parts", {}).values():  # strict JSON carries an infinite error as "inf"
            if isinstance(part.get("max_abs_error"), str):
                part["max_abs_error"] = float(part["max_abs_error"])
    except (IndexError, ValueError):
        last = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        return {"exit": done.returncode, "error": last, "parts": {}, "printed": done.stdout + done.stderr}
    return {**figures, "exit": done.returncode, "printed": "\n".join(lines[:-1])}


def _save(path: Path, arrays: dict[str, Any]) -> None:
    import numpy as np

    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def _torch_output(checkpoint: Path, kind: str, x: Any, hub: ModelEntry | None) -> Any:
    import torch

    model = torchside.load_model(checkpoint, kind, hub)
    with torch.inference_mode():
        return model(torch.from_numpy(x)).numpy()


def _exporter_piece(proto: Any, nodes: list[graph.Node], x: Any, disabled: dict[str, Any], checkpoint: Path,
                    kind: str, tolerance: Tolerance, level: str, hub: ModelEntry | None) -> subgraph.Piece | None:
    """The nodes of the first module that differs from PyTorch which compute the value compared with it."""
    model = torchside.load_model(checkpoint, kind, hub)
    verdicts = torchside.judge_modules(torchside.module_outputs(model, x), nodes, disabled, tolerance)
    first = next((v for v in verdicts if v.state == "differs" and v.comparison is not None), None)
    if first is None or first.comparison is None:
        return None
    value = first.comparison.name
    chosen = subgraph.closure(nodes, value, torchside.first_run(nodes, first.call.path))
    expected = {value: first.call.output}
    piece, feeds = subgraph.extract(proto, chosen, disabled, expected)
    return subgraph.Piece(piece, feeds, expected, tuple(nodes[i].name for i in chosen), level)


def _node_piece(proto: Any, nodes: list[graph.Node], name: str, recorded: dict[str, Any],
                level: str) -> subgraph.Piece:
    """The first diverging node alone, fed and judged by the reference side's values."""
    node = next(n for n in nodes if n.name == name)
    expected = {o: recorded[o] for o in node.outputs if o in recorded}
    piece, feeds = subgraph.extract(proto, [node.index], recorded, expected)
    return subgraph.Piece(piece, feeds, expected, (node.name,), level)


def _sides(report: dict[str, Any], model_path: Path, proto: Any, x: Any, checkpoint: Path | None,
           kind: str | None, tolerance: Tolerance, hub: ModelEntry | None
           ) -> tuple[str, dict[str, Any], subgraph.Piece | None]:
    """(level the model is run at, its expected outputs by the reference side, the diverging piece)."""
    verdict, level = report["verdict"], report["opt_level"]
    nodes = graph.nodes_of(proto)
    outputs = [o.name for o in proto.graph.output]
    with tempfile.TemporaryDirectory(prefix="repro-") as tmp:
        marked = Path(tmp) / "marked.onnx"
        graph.mark_all(model_path, marked)
        disabled = values.ort_values(marked, x, "disabled")
        if verdict == "kernel":  # ONNX Runtime with nothing optimized against onnx's reference evaluator
            reference = values.reference_values(marked, x, list(disabled), disabled)
            return "disabled", {o: reference[o] for o in outputs}, _node_piece(
                proto, nodes, report["kernel"]["node"], reference, "disabled")
    if verdict == "optimizer":  # the level against disabled; a node is named unless only the whole model moves
        node = (report.get("optimizer") or {}).get("node")
        piece = _node_piece(proto, nodes, node, disabled, level) if node else None
        return level, {o: disabled[o] for o in outputs}, piece
    if verdict == "exporter" and checkpoint is not None and kind is not None:
        expected = {outputs[0]: _torch_output(checkpoint, kind, x, hub)}
        return level, expected, _exporter_piece(proto, nodes, x, disabled, checkpoint, kind, tolerance, level, hub)
    return level, {o: disabled[o] for o in outputs}, None


def _meta(model_path: Path) -> dict[str, Any] | None:
    meta_file = artifacts.meta_path(model_path)
    return json.loads(meta_file.read_text(encoding="utf-8")) if meta_file.is_file() else None


def _copy_model(model_path: Path, work: Path) -> None:
    """The model (and its meta.json, which holds the exporter record) into the bundle."""
    shutil.copyfile(model_path, work / "model.onnx")
    if artifacts.meta_path(model_path).is_file():
        shutil.copyfile(artifacts.meta_path(model_path), work / "model.onnx.meta.json")


def write_repro(folder: Path, model_path: Path, x: Any, report: dict[str, Any], *, tolerance: Tolerance,
                command: str, checkpoint: Path | None = None, kind: str | None = None, hub: ModelEntry | None = None,
                expected: Any | None = None, python: str | os.PathLike[str] | None = None,
                runtime: str | None = None) -> Path:
    """Write ``folder`` (normally ``<bundle>/repro``) for the divergence ``report`` (``diagnose.localize``'s) of
    ``model_path`` on input ``x``. ``expected``: the output the failing comparison wanted (golden or PyTorch);
    without it the reference side of the divergence gives it. ``python``: the interpreter of the environment
    the divergence was seen in (a runtime's venv, named ``runtime``), where repro.py is checked."""
    import onnx

    folder, model_path = Path(folder), Path(model_path)
    proto = onnx.load(str(model_path))
    input_name = values.data_input(proto)
    kind = kind or model_kind(model_path, proto, next(i for i in proto.graph.input if i.name == input_name))
    level, wanted, piece = _sides(report, model_path, proto, x, checkpoint, kind, tolerance, hub)
    if expected is not None and report["verdict"] not in ("optimizer", "kernel"):
        # what the failing comparison compared with; a runtime divergence keeps the runtime's own reference side
        wanted = {proto.graph.output[0].name: expected}
    meta = _meta(model_path)
    with atomic.publishing_folder(folder) as work:
        _copy_model(model_path, work)
        _save(work / "inputs.npz", {input_name: x})
        _save(work / "expected.npz", wanted)
        if piece is not None:
            onnx.save(piece.model, str(work / "subgraph.onnx"))
            _save(work / "subgraph_inputs.npz", piece.feeds)
            _save(work / "subgraph_expected.npz", piece.expected)
        atomic.write_text(work / SCRIPT, script_text(level, tolerance))
        seen = run_script(work, python)
        dropped = None
        if piece is not None and not (seen["parts"].get("subgraph.onnx") or {}).get("diverges"):
            # One node alone agrees (a fusion needs its neighbours): the bundle says so and keeps the model.
            figures = seen["parts"].get("subgraph.onnx") or {}
            dropped = (f"the piece ({', '.join(piece.nodes)}) alone gives max abs error "
                       f"{figures.get('max_abs_error', float('nan')):.3g}: it does not diverge without the rest of the "
                       "graph, so only model.onnx reproduces")
            for name in ("subgraph.onnx", "subgraph_inputs.npz", "subgraph_expected.npz"):
                (work / name).unlink()
            seen = run_script(work, python)
        text = issue.issue_text(report=report, meta=meta, seen=seen, level=level, tolerance=tolerance,
                                command=command, runtime=runtime, model_nodes=len(proto.graph.node),
                                piece=None if dropped else piece, dropped=dropped)
        atomic.write_text(work / "ISSUE.md", text)
    return folder


def write_engine_bundle(folder: Path, model_path: Path, x: Any, expected: Any, engine_words: list[str],
                        what: str, command: str, runtime: str | None = None) -> Path:
    """The bundle of a divergence only the C engine shows (ONNX Runtime's Python API on the same library gives
    ``expected``): no upstream script; the engine command that gives the wrong numbers, in ISSUE.md and
    engine.sh. ``engine_words``: the command with ``model.onnx``, ``input.npy`` and ``engine_output.npy``
    relative to the bundle."""
    import numpy as np
    import onnx

    folder, model_path = Path(folder), Path(model_path)
    proto = onnx.load(str(model_path), load_external_data=False)
    meta = _meta(model_path)
    with atomic.publishing_folder(folder) as work:
        _copy_model(model_path, work)
        np.save(work / "input.npy", x)
        _save(work / "expected.npz", {proto.graph.output[0].name: expected})
        engine = shlex.join(engine_words)
        atomic.write_text(work / "engine.sh", f"#!/bin/sh\n# {issue.ENGINE_NOTE}\ncd \"$(dirname \"$0\")\"\n"
                                              f"{engine}\n")
        (work / "engine.sh").chmod(0o755)
        atomic.write_text(work / "ISSUE.md", issue.engine_issue_text(meta=meta, engine=engine, what=what,
                                                                     command=command, runtime=runtime))
    return folder
