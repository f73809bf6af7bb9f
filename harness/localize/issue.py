"""The ISSUE.md of a repro bundle: whose bug it is, every version, the divergence, the optimizer named, how to
run the reproduction and what it printed, the exporter's record and the command that made it.

Every string from outside (node and module names, exporter messages, paths, versions) is escaped: inline
text by ``md``, blocks by ``fenced`` (a fence longer than any backtick run inside).
"""

from __future__ import annotations

import json
import re
from typing import Any

from converter import versions
from converter.compare import Tolerance
from harness.ground import markdown

ENGINE_NOTE = ("alog-detect's own bug, not upstream's: ONNX Runtime's Python API on the same library gives the "
               "expected outputs, the C engine (cengine/) does not. Do not file it with ONNX Runtime.")
UPSTREAM = {"optimizer": "ONNX Runtime (a graph optimization changes the numbers)",
            "kernel": "ONNX Runtime (a CPU kernel differs from the ONNX reference evaluator)",
            "exporter": "PyTorch (torch.onnx: the exported graph does not compute what the module does)"}
PACKAGES = ("python", "torch", "onnx", "onnxscript", "onnxruntime", "numpy")

def md(text: Any, limit: int = 1000) -> str:
    """``harness.ground.markdown.md``, with room for the longer messages an issue quotes."""
    return markdown.md(text, limit)


def fenced(text: str, info: str = "") -> str:
    """A fenced block that no content can close early: the fence is longer than any backtick run inside."""
    body = markdown.CONTROL.sub("\ufffd", text.replace("\r\n", "\n").replace("\t", "    ")).rstrip("\n")
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{body}\n{fence}"


def _figure(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else md(value)


def _versions_table(meta: dict[str, Any] | None, seen: dict[str, Any]) -> list[str]:
    exported = (meta or {}).get("versions") or {}
    here = versions.environment()
    rows = ["| package | exported with (meta.json) | localized with | repro.py ran with |", "|---|---|---|---|"]
    for name in PACKAGES:
        ran = seen.get(name, "") if name in ("python", "onnxruntime", "numpy") else ""
        rows.append(f"| {name} | {md(exported.get(name) or '-')} | {md(here.get(name) or '-')} | {md(ran or '-')} |")
    return rows


def _exporter_record(meta: dict[str, Any] | None) -> list[str]:
    record = (meta or {}).get("export")
    if not record:
        return ["No exporter record: the model has no meta.json beside it."]
    lines = [f"Strategy {md(record.get('strategy'))}, produced by the {md(record.get('exporter'))} exporter, "
             f"opset {md(record.get('opset'))}: {md(record.get('reason') or '-')}", "",
             "| exporter | call | outcome | error |", "|---|---|---|---|"]
    for attempt in record.get("attempts") or []:
        lines.append(f"| {md(attempt.get('exporter'))} | {md(attempt.get('call'))} | {md(attempt.get('outcome'))} "
                     f"| {md(attempt.get('error') or '-', 300)} |")
    whole = json.dumps(record, indent=1, default=str)
    lines += ["", "The whole record (meta.json `export`):", "", fenced(whole, "json")]
    return lines


def _title(report: dict[str, Any], ort: str, level: str) -> str:
    verdict = report.get("verdict")
    if verdict == "optimizer":
        node = (report.get("optimizer") or {}).get("node")
        where = f" at node {node}" if node else ""
        return f"ONNX Runtime {ort}: level {report.get('opt_level')} changes the outputs{where}"
    if verdict == "kernel":
        first = report.get("kernel") or {}
        return f"ONNX Runtime {ort}: {first.get('op_type')} ({first.get('node')}) differs from the reference evaluator"
    if verdict == "exporter":
        module = (report.get("exporter") or {}).get("module") or {}
        return (f"torch.onnx: module {module.get('module')} ({module.get('class')}) exported as "
                f"{module.get('node')} ({module.get('op_type')}) differs from PyTorch")
    return f"outputs compared at {level}: no divergence localized to a node"


def issue_text(*, report: dict[str, Any], meta: dict[str, Any] | None, seen: dict[str, Any], level: str,
               tolerance: Tolerance, command: str, runtime: str | None, model_nodes: int,
               piece: Any | None, dropped: str | None) -> str:
    ort = seen.get("onnxruntime") or versions.package_version("onnxruntime") or "?"
    verdict = report.get("verdict")
    out = [f"# {md(_title(report, ort, level))}", "",
           f"**Upstream:** {md(UPSTREAM.get(str(verdict), 'none named: the localizer found no diverging node'))}", ""]
    if runtime:
        out += [f"Seen in the runtime {md(runtime)} (its venv holds onnxruntime and numpy only).", ""]
    out += ["## Versions", "", *_versions_table(meta, seen), "", "## The divergence", ""]
    out += [f"- {md(line)}" for line in report.get("lines") or []]
    blamed = (report.get("optimizer") or {}).get("transformers") or {}
    if blamed.get("named"):
        out.append(f"- the graph transformer(s) whose removal makes {md(report.get('opt_level'))} agree with "
                   f"disabled: {md(', '.join(blamed['named']))} (disabled_optimizers: {md(blamed.get('summary'))}; "
                   f"names from the {md(blamed.get('candidates_source'))})")
    elif blamed.get("unavailable") or blamed.get("summary"):
        out.append(f"- no graph transformer named: {md(blamed.get('summary') or blamed.get('unavailable'))}")
    parts = seen.get("parts") or {}
    out += ["", "## Reproduce (numpy and onnxruntime only)", "",
            fenced(f"pip install numpy onnxruntime=={ort}\npython repro.py   # exit 1: diverges; 0: agrees", "sh"), "",
            f"repro.py pins {md(seen.get('level') or level)} and CPUExecutionProvider, one thread, and "
            f"compares within atol {tolerance.atol:g}, rtol {tolerance.rtol:g}. What it printed here "
            f"(exit {md(seen.get('exit'))}):", "", fenced(seen.get("printed") or seen.get("error") or ""), ""]
    out += ["## Files", "", "- `model.onnx`: the whole model; `inputs.npz` its input, `expected.npz` the outputs it "
            "should give (" + ("PyTorch's or the golden ones" if verdict not in ("optimizer", "kernel") else
                              "ONNX Runtime's own with every optimization disabled" if verdict == "optimizer" else
                              "onnx's reference evaluator's") + ")"]
    if piece is not None:
        figures = parts.get("subgraph.onnx") or {}
        out.append(f"- `subgraph.onnx`: {len(piece.nodes)} of the model's {model_nodes} nodes "
                   f"({md(', '.join(piece.nodes))}), its inputs as recorded in the run (`subgraph_inputs.npz`), "
                   f"the values it should give in `subgraph_expected.npz`; max abs error "
                   f"{_figure(figures.get('max_abs_error'))}")
    elif dropped:
        out.append(f"- no `subgraph.onnx`: {md(dropped)}")
    else:
        out.append("- no `subgraph.onnx`: no single node was found diverging")
    out += ["- `model.onnx.meta.json`: the export's own record" if meta else "- no meta.json beside the model",
            "", "## The exporter's record", "", *_exporter_record(meta), "", "## The command", "",
            "What localized it (needs the alog-detect checkout):", "", fenced(command, "sh"), ""]
    return "\n".join(out)


def engine_issue_text(*, meta: dict[str, Any] | None, engine: str, what: str, command: str,
                      runtime: str | None) -> str:
    out = ["# The C engine differs from ONNX Runtime's Python API", "", f"**Not upstream:** {md(ENGINE_NOTE)}", ""]
    if runtime:
        out += [f"Seen in the runtime {md(runtime)}.", ""]
    out += ["## What differs", "", f"- {md(what)}", "", "## The engine command", "",
            "From this folder (`engine.sh`); it writes `engine_output.npy`, to be compared with `expected.npz`:", "",
            fenced(engine, "sh"), "", "## Versions", "", *_versions_table(meta, {}), "",
            "## The exporter's record", "", *_exporter_record(meta), "", "## The command", "",
            fenced(command, "sh"), ""]
    return "\n".join(out)
