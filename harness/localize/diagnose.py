"""Name the first node where the numbers go wrong.

Three comparisons, each over every value of the graph (``graph.mark_all``), node by node in topological
order: ONNX Runtime at the level that failed against ONNX Runtime with every optimization disabled (an
optimizer divergence), ONNX Runtime disabled against onnx's reference evaluator (a runtime kernel
divergence), and, with a checkpoint, the PyTorch modules' outputs against the values of the nodes they
were exported as (an exporter divergence). The first is named with its op, its inputs and whether they
agree, and the figures of each value up to there.
"""

from __future__ import annotations

import json
import math
import shlex
import tempfile
from pathlib import Path
from typing import Any

from converter.compare import Comparison, Tolerance, compare
from converter.errors import AlogError, describe
from harness.config.matrix import Matrix
from harness.config.models import ModelEntry
from harness.localize import graph, torchside, values

TRAIL = 12  # values reported up to the first divergence


def _figures(c: Comparison) -> dict[str, Any]:
    return {"value": c.name, "shape": list(c.shape), "max_abs_error": c.max_abs_error, "ok": bool(c),
            "problem": c.problem}


def first_node_divergence(nodes: list[graph.Node], actual: dict[str, Any], expected: dict[str, Any],
                          tolerance: Tolerance, skip: set[str]) -> dict[str, Any]:
    """The first node (topological order) whose outputs differ between two runs of the same graph."""
    trail: list[dict[str, Any]] = []
    for node in nodes:
        outputs = [compare(expected[v], actual[v], tolerance, v) for v in node.outputs if v in actual and v in expected]
        if not outputs:
            continue
        trail = (trail + [{"node": node.name, "op_type": node.op_type, **_figures(c)} for c in outputs])[-TRAIL:]
        if all(outputs):
            continue
        inputs = []
        for value in node.inputs:
            if value in skip or value not in actual or value not in expected:
                inputs.append({"value": value, "agrees": True, "max_abs_error": 0.0, "constant": True})
            else:
                c = compare(expected[value], actual[value], tolerance, value)
                inputs.append({"value": value, "agrees": bool(c), "max_abs_error": c.max_abs_error})
        return {"node": node.name, "op_type": node.op_type, "outputs": [_figures(c) for c in outputs],
                "inputs": inputs, "trail": trail}
    return {"node": None, "trail": trail}


def exporter_divergence(model: Any, x: Any, nodes: list[graph.Node], onnx_values: dict[str, Any],
                        tolerance: Tolerance) -> dict[str, Any]:
    verdicts = torchside.judge_modules(torchside.module_outputs(model, x), nodes, onnx_values, tolerance)
    mapped = [v for v in verdicts if v.state != "unmapped"]
    if not mapped:
        return {"module": None, "mapping": "none: no node of the graph carries a module's scope with its output's "
                "shape (the exporter left no names to map by)"}
    rows = [{"module": ".".join(v.call.path), "class": v.call.kind, "state": v.state,
             "node": v.node.name if v.node else None, "op_type": v.node.op_type if v.node else None,
             "max_abs_error": v.comparison.max_abs_error if v.comparison is not None else None} for v in verdicts]
    first = next((r for r in rows if r["state"] == "differs"), None)
    result: dict[str, Any] = {"module": first, "modules": rows,
                              "unmapped": [r["module"] for r in rows if r["state"] == "unmapped"]}
    if first is not None:
        position = rows.index(first)
        result["agreeing_before"] = [r["module"] for r in rows[:position] if r["state"] == "agrees"]
        result["downstream"] = [r["module"] for r in rows[position + 1:] if r["state"] == "differs"]
    return result


def nonfinite_origin(nodes: list[graph.Node], found: dict[str, Any], data_input: str) -> dict[str, Any] | None:
    """Where NaN/Inf first appear (a finding apart from any divergence: both sides may agree on them)."""
    import numpy as np

    def counts(value: Any) -> tuple[int, int]:
        if getattr(value, "dtype", None) is None or value.dtype.kind != "f":
            return 0, 0
        return int(np.isnan(value).sum()), int(np.isinf(value).sum())

    holding = [name for name, value in found.items() if sum(counts(value))]
    if not holding:
        return None
    nan, inf = counts(found.get(data_input))
    result: dict[str, Any] = {"values_holding": len(holding), "input_nan": nan, "input_inf": inf, "node": None}
    for node in nodes:
        for value in node.outputs:
            nan, inf = counts(found.get(value))
            if nan or inf:
                result.update(node=node.name, op_type=node.op_type, value=value, nan=nan, inf=inf)
                return result
    return result


def localize(model_path: Path, x: Any, checkpoint: Path | None = None, kind: str | None = None,
             opt_level: str = "all", tolerance: Tolerance | None = None,
             level_values: dict[str, Any] | None = None, hub: ModelEntry | None = None) -> dict[str, Any]:
    """The divergence report (what divergence.json holds). ``level_values``: the values at ``opt_level`` when
    another runtime computed them (``values.main`` in its venv); else this environment's ONNX Runtime.
    ``hub``: the matrix's hub entry whose model ``checkpoint`` (its state_dict) is given to.
    A model or input it cannot take, or a checkpoint that is not the model's, is an ``AlogError`` before any
    diagnosis."""
    import onnx

    from harness.localize import inputs

    tolerance = tolerance or Tolerance()
    subject = inputs.check_model(Path(model_path))
    inputs.check_input(subject, x, "the input")
    kind = kind or subject.kind
    try:
        proto = onnx.load(str(model_path))
    except Exception as exc:  # noqa: BLE001 - a truncated external data file, ...
        raise AlogError(f"--model {model_path}: its data cannot be read ({describe(exc)})") from None
    torch_model = torchside.load_matching(checkpoint, kind, proto, hub) if checkpoint is not None else None
    values.quiet_runtime()
    nodes = graph.nodes_of(proto)
    skip = graph.constants(proto) | {i.name for i in proto.graph.input}
    report: dict[str, Any] = {"model": str(model_path), "kind": kind, "data_input": subject.data_input,
                              "input_shape": list(x.shape), "opt_level": opt_level,
                              "tolerance": {"atol": tolerance.atol, "rtol": tolerance.rtol}}
    with tempfile.TemporaryDirectory(prefix="localize-") as tmp:
        marked = Path(tmp) / "marked.onnx"
        graph.mark_all(model_path, marked)
        skipped: dict[str, str] = {}
        disabled = values.ort_values(marked, x, "disabled", skipped)
        report["skipped"] = [{"value": name, "type": kind_of} for name, kind_of in skipped.items()]
        if level_values is not None:
            at_level = level_values
        else:  # at "disabled" the two runs would be the same run
            at_level = disabled if opt_level == "disabled" else values.ort_values(marked, x, opt_level)
        report["optimizer"] = {"compared": f"ONNX Runtime at {opt_level} vs disabled",
                               **first_node_divergence(nodes, at_level, disabled, tolerance, skip)}
        if level_values is None and opt_level != "disabled":  # this runtime made the level's values
            # On the model as it is: marking every value as an output stops the fusions that change numbers.
            blamed = transformers_to_blame(model_path, proto, x, opt_level, tolerance)
            if blamed.get("diverges") or report["optimizer"].get("node"):
                report["optimizer"]["transformers"] = blamed
        report["kernel"] = {"compared": "ONNX Runtime disabled vs onnx.reference"}
        deviating = values.deviating_nodes(proto)
        if deviating:  # judged against ONNX Runtime alone, listed
            report["kernel"]["judged_against_onnxruntime"] = deviating
        try:
            reference = values.reference_values(marked, x, list(disabled), disabled)
            report["kernel"].update(first_node_divergence(nodes, disabled, reference, tolerance, skip))
        except Exception as exc:  # noqa: BLE001 - the reference evaluator lacks some kernels: say so, go on
            report["kernel"].update(node=None, unavailable=describe(exc))
    report["nonfinite"] = nonfinite_origin(nodes, {subject.data_input: x, **disabled}, subject.data_input)
    if torch_model is not None:
        report["exporter"] = exporter_divergence(torch_model, x, nodes, disabled, tolerance)
    report["verdict"], report["lines"] = summarize(report)
    return report


def transformers_to_blame(model_path: Path, proto: Any, x: Any, opt_level: str,
                          tolerance: Tolerance) -> dict[str, Any]:
    """The graph transformer(s) whose removal makes ``opt_level`` agree with disabled (``optimizers``)."""
    from harness.localize.optimizers import find_culprit_optimizers

    try:
        found = find_culprit_optimizers(model_path, {values.data_input(proto): x}, opt_level, atol=tolerance.atol,
                                        rtol=tolerance.rtol)
    except Exception as exc:  # noqa: BLE001 - naming the transformer is extra: its failure is said, the rest stays
        return {"named": [], "unavailable": describe(exc)}
    return {"named": list(found.culprits), "diverges": found.diverges, "explained": found.explained,
            "error_as_is": found.error_as_is,
            "error_disabled": found.error_disabled, "sessions": found.sessions,
            "candidates_source": found.candidates_source, "onnxruntime": found.onnxruntime_version,
            "summary": found.summary()}


def _agree_text(inputs: list[dict[str, Any]]) -> str:
    computed = [i for i in inputs if not i.get("constant")]
    if not computed:
        return "its inputs are the graph's input and constants"
    if all(i["agrees"] for i in computed):
        return f"its inputs agree to {max(i['max_abs_error'] for i in computed):.1g}"
    bad = next(i for i in computed if not i["agrees"])
    return f"its input {bad['value']} already differs (max abs {bad['max_abs_error']:.1g})"


def summarize(report: dict[str, Any]) -> tuple[str, list[str]]:
    """(verdict, readable lines): the first divergence found, then the findings apart (NaN/Inf, values skipped)."""
    verdict, lines = _first_divergence(report)
    found = report.get("nonfinite")
    if found:
        where = (f"first made by {found['node']} ({found['op_type']}) in {found['value']}: {found['nan']} NaN, "
                 f"{found['inf']} Inf" if found.get("node") else "in the input itself")
        lines.append(f"NaN/Inf, a finding apart: {where}; {found['values_holding']} values hold some (the same "
                     "NaN/Inf in the same places on both sides is agreement)")
    if report.get("skipped"):
        names = ", ".join(f"{s['value']} ({s['type']})" for s in report["skipped"][:4])
        lines.append(f"not compared: {len(report['skipped'])} values of a type numpy does not compute with: {names}")
    for node in (report.get("kernel") or {}).get("judged_against_onnxruntime", [])[:3]:
        lines.append(f"{node['node']} ({node['op_type']}) judged against ONNX Runtime alone: {node['why']}")
    return verdict, lines


def _first_divergence(report: dict[str, Any]) -> tuple[str, list[str]]:
    """(verdict, lines) of the first divergence found, optimizer before kernel before exporter."""
    blamed = (report.get("optimizer") or {}).get("transformers") or {}
    if not (report.get("optimizer") or {}).get("node") and blamed.get("named"):
        return "optimizer", [f"every node agrees when each value is marked as an output, but the model's outputs at "
                             f"{report['opt_level']} differ from disabled; the optimizer that changed the numbers: "
                             f"{', '.join(blamed['named'])} (disabled_optimizers: {blamed['summary']})"]
    for key, what in (("optimizer", "runtime/optimizer divergence"), ("kernel", "runtime kernel divergence")):
        first = report.get(key) or {}
        if first.get("node"):
            worst = max(o["max_abs_error"] for o in first["outputs"])
            lines = [f"first divergence: {first['node']} ({first['op_type']}), max abs {worst:.1g}; "
                     f"{_agree_text(first['inputs'])} [{what}: {first['compared']}]"]
            blamed = first.get("transformers") or {}
            if blamed.get("named"):
                lines.append(f"the optimizer that changed the numbers: {', '.join(blamed['named'])} "
                             f"(disabled_optimizers: {blamed['summary']})")
            elif blamed:
                lines.append(f"no optimizer named: {blamed.get('summary') or blamed.get('unavailable')}")
            return key, lines
    exporter = report.get("exporter") or {}
    module = exporter.get("module")
    if module:
        lines = [f"first divergence: {module['node']} ({module['op_type']}), max abs {module['max_abs_error']:.1g}; "
                 f"module {module['module']} ({module['class']}) differs from PyTorch, "
                 + (f"after {', '.join(exporter['agreeing_before'])} agree" if exporter.get("agreeing_before")
                    else "the first module") + " [exporter divergence]"]
        if exporter.get("downstream"):
            lines.append(f"downstream, differing too: {', '.join(exporter['downstream'][:6])}")
        return "exporter", lines
    if exporter.get("mapping"):
        return "unmapped", [f"ONNX Runtime agrees with itself and the reference; PyTorch: {exporter['mapping']}"]
    if "exporter" in report:
        return "none", ["every mapped module agrees with PyTorch and every node agrees between the runtimes: the "
                        "difference is outside the graph"]
    return "none", ["every node agrees between the runtimes (no checkpoint given for the PyTorch side)"]


def unavailable(exc: BaseException) -> str:
    """The line shown in place of a divergence when the localizer itself failed: it never hides the failure
    it was run for."""
    return f"the localizer could not run: {describe(exc)}"


def strict(value: Any) -> Any:
    """``value`` with every non-finite float as a string ("inf", "-inf", "nan"): JSON any parser reads."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict(v) for v in value]
    return value


def write(report: dict[str, Any], bundle: Path) -> Path:
    """divergence.json and divergence.txt (the readable lines) into a repro bundle; strict JSON."""
    from converter import atomic

    atomic.write_text(bundle / "divergence.json", json.dumps(strict(report), indent=2, allow_nan=False) + "\n")
    atomic.write_text(bundle / "divergence.txt", "\n".join(report["lines"]) + "\n")
    return bundle / "divergence.json"


def localize_bundle(bundle: Path, checkpoint: Path | None, kind: str, matrix: Matrix, opt_level: str = "all",
                    hub: ModelEntry | None = None) -> str:
    """Localize a repro bundle's failing input on its model; divergence.json and .txt land in the bundle.
    Returns the first readable line (what a check's detail and the report show)."""
    import numpy as np


    try:
        report = localize(bundle / "model.onnx", np.load(bundle / "input.npy"), checkpoint, kind, opt_level,
                          matrix.tolerance, hub=hub)
    except Exception as exc:  # noqa: BLE001 - see unavailable
        return unavailable(exc)
    report["command"] = localize_command(bundle / "model.onnx", bundle / "input.npy", checkpoint, opt_level, bundle,
                                       matrix=matrix.path, hub=hub)
    write(report, bundle)
    try:  # the issue-ready bundle; PyTorch's (or the golden) output is what the check compared with
        from harness.localize.repro import FOLDER, write_repro

        expected = np.load(bundle / "expected.npy") if (bundle / "expected.npy").is_file() else None
        write_repro(bundle / FOLDER, bundle / "model.onnx", np.load(bundle / "input.npy"), report,
                    tolerance=matrix.tolerance, command=report["command"], checkpoint=checkpoint, kind=kind, hub=hub,
                    expected=expected)
    except Exception as exc:  # noqa: BLE001 - the bundle is extra: its failure is said, the divergence stays
        return f"{report['lines'][0]} (no repro/ bundle: {describe(exc)})"
    return report["lines"][0]


def localize_command(model: Path, x: Path, checkpoint: Path | None, opt_level: str, out: Path,
                   runtime: str | None = None, matrix: Path | None = None, hub: ModelEntry | None = None) -> str:
    """The command that localizes again what a bundle records (kept in divergence.json, shown in its README)."""
    words = ["python", "-m", "harness.cli", "localize", "--model", str(Path(model).resolve()),
             "--input", str(Path(x).resolve()), "--opt-level", opt_level, "--out", str(Path(out).resolve())]
    if checkpoint is not None:
        words += ["--checkpoint", str(Path(checkpoint).resolve())]
    if hub is not None:  # the matrix's [model.NAME] builds the model the checkpoint is given to
        words += ["--hub", hub.name]
    if runtime is not None:
        words += ["--runtime", runtime]
    if matrix is not None:  # its [tolerance] (and the runtime's venv)
        words += ["--matrix", str(Path(matrix).resolve())]
    return shlex.join(words)
