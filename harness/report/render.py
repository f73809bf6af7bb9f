"""Render a report document as index.html (Jinja2, autoescaped), junit.xml (ElementTree) and summary.md.

Renderers read the document only; they never reach back to cell files or the matrix.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jinja2

from harness.ground.markdown import md
from harness.ground.names import ENGINES, STATUSES
from harness.report import answers, chart, drift, views
from harness.report import runtimes as report_runtimes
from harness.report.model import tail_summary

TEMPLATES = Path(__file__).resolve().parent / "templates"

STATUS_MEANING = {
    "pass": "passed as expected",
    "fail": "failed, and no expectation accepts it",
    "xfail": "failed as matrix.toml expects (accepted, with a reason)",
    "xpass": "passed although matrix.toml expects a failure: drift alert",
    "error": "the check itself broke (harness error or unexpected exception)",
    "skip": "not applicable on this cell",
    "crash": "the cell's process died",
    "timeout": "the cell's process hung and was stopped",
    "missing": "no evidence: the check could not run, or its cell left no readable result",
}
STATUS_MARK = {
    "pass": "✅", "fail": "❌", "xfail": "🟡", "xpass": "🟣", "error": "🟠",
    "skip": "⚪", "crash": "💥", "timeout": "⏱️", "missing": "❔",
}
# Detail keys shown with their own label, in this order; the rest follow as compact JSON
# ("attempts" has its own rendering).
DETAIL_LABELS = {
    "strategy": "strategy asked", "exporter": "exporter used", "call": "call", "reason": "why this exporter",
    "opset": "opset", "inputs": "graph inputs", "input_dims": "graph inputs", "outputs": "graph outputs",
    "op_types": "op types", "attempts": "attempts", "divergence": "first divergence",
}
DIMS_KEYS = ("inputs", "input_dims", "outputs")
SUMMARY_FAILURE_LIMIT = 20
DEPLOY_MESSAGES = ("DEPLOY ", "CRASH runtime ", "TIMEOUT runtime ", "ERROR runtime ")  # the gate's deploy lines

_INVALID_XML = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def slug(text: Any) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", str(text))


def compact(value: Any, key: str | None = None, limit: int = 400) -> str:
    """A detail value as one short line: op types as Op×n, graph dims as name [a, b], anything else as JSON."""
    if key == "op_types" and isinstance(value, dict) and all(isinstance(v, int) for v in value.values()):
        text = ", ".join(f"{k}×{v}" for k, v in sorted(value.items(), key=lambda kv: (-kv[1], kv[0])))
    elif key in DIMS_KEYS and isinstance(value, dict) and all(isinstance(v, list) for v in value.values()):
        text = "; ".join(f"{k} [{', '.join(map(str, v))}]" for k, v in value.items())
    elif isinstance(value, str):
        text = value
    elif value is None:
        text = "—"
    else:
        text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def figure(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def duration_us(value: Any) -> str:
    """A duration given in microseconds, in the unit that reads best (µs, ms or s)."""
    if not isinstance(value, (int, float)):
        return "—"
    if value < 1e3:
        return f"{value:.0f} µs"
    return f"{value / 1e3:.3g} ms" if value < 1e6 else f"{value / 1e6:.3g} s"


_SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def sup(number: Any) -> str:
    """A note number as superscript digits: plain text, so it needs no markup in markdown or HTML."""
    return str(number).translate(_SUPERSCRIPT) if isinstance(number, int) else ""


def _environment(autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(sup=sup, slug=slug, compact=compact, figure=figure, duration_us=duration_us, md=md,
                       model_name=drift.model_name)
    env.globals.update(
        statuses=STATUSES, engines=ENGINES, meaning=STATUS_MEANING, mark=STATUS_MARK, detail_labels=DETAIL_LABELS,
        xpass_message=drift.xpass_message, answer_meaning=answers.MEANING, answer_legend=answers.LEGEND,
        answer_symbols=answers.SYMBOLS, answer_title=answers.title,
    )
    return env


def _answers(doc: dict[str, Any]) -> dict[str, Any]:
    """The document's answer matrix; derived here for a document built before it had one."""
    return doc.get("answers") or answers.answer_matrix(doc)


def render_html(doc: dict[str, Any]) -> str:
    template = _environment(autoescape=True).get_template("index.html.j2")
    return template.render(doc=doc, grid=views.grid(doc), chart=chart.parity_chart(doc),
                           worst_per_model=views.worst_per_model, drift=views.drift_view(doc),
                           header=lambda cell: views.column_header(cell, doc["models"]),
                           runtime_grid=report_runtimes.grid(doc), answers=_answers(doc))


def render_summary(doc: dict[str, Any], report_link: str = "index.html") -> str:
    failing = set(doc["policy"]["fail_on"]) | {"missing"}
    failures = [
        (cell, check) for cell in doc["cells"] for check in cell["checks"]
        if check["status"] in failing and check.get("recorded", True)
    ]
    unfinished = [
        (cell, cell.get("problem")
         or f"{cell.get('signal') or cell['state']}; output: {tail_summary(cell.get('output_tail'))}")
        for cell in doc["cells"] if cell["state"] != "complete"
    ]
    template = _environment(autoescape=False).get_template("summary.md.j2")
    return template.render(
        doc=doc, unfinished=unfinished, failures=failures[:SUMMARY_FAILURE_LIMIT],
        more_failures=max(0, len(failures) - SUMMARY_FAILURE_LIMIT), worst_per_model=views.worst_per_model,
        deploy=[m for m in doc["verdict"]["messages"] if m.startswith(DEPLOY_MESSAGES)],
        report_link=report_link, answers=_answers(doc),
    )


def _xml_text(text: Any) -> str:
    return _INVALID_XML.sub("\ufffd", str(text))


def _failure_text(check: dict[str, Any]) -> str:
    labels = (("error", "error"), ("root_cause", "root cause"), ("repro", "repro bundle"))
    lines = [f"{label}: {check[key]}" for key, label in labels if check.get(key)]
    if check.get("replay"):
        lines.append(f"replay: {check['replay']}")
    lines += [f"figure {k}: {figure(v)}" for k, v in (check.get("figures") or {}).items()]
    return "\n".join(lines)


def _testcase(suite: ET.Element, cell: dict[str, Any], check: dict[str, Any], xpass_fails: bool) -> str:
    """Add one testcase; return its junit outcome: passed, failure, error or skipped."""
    case = ET.SubElement(suite, "testcase", classname=_xml_text(cell["id"]),
                         name=_xml_text(f"{check['model']}.{check['check']}"), time=f"{check.get('seconds') or 0:.3f}")
    status = check["status"]
    message = check.get("error") or check.get("root_cause") or STATUS_MEANING.get(status, status)
    outcome = "passed"
    if status == "fail":
        ET.SubElement(case, "failure", message=_xml_text(message), type="fail").text = _xml_text(_failure_text(check))
        outcome = "failure"
    elif status in ("error", "crash", "timeout", "missing"):
        ET.SubElement(case, "error", message=_xml_text(message), type=status).text = _xml_text(_failure_text(check))
        outcome = "error"
    elif status == "xfail":
        reason = f"expected failure: {check.get('reason') or 'no reason recorded'}"
        ET.SubElement(case, "skipped", message=_xml_text(reason), type="xfail").text = _xml_text(_failure_text(check))
        outcome = "skipped"
    elif status == "skip":
        ET.SubElement(case, "skipped", message=_xml_text(check.get("reason") or check.get("error") or "not applicable"))
        outcome = "skipped"
    elif status == "xpass":
        alert = drift.xpass_message(cell, check)
        if xpass_fails:
            ET.SubElement(case, "failure", message=_xml_text(f"unexpected pass: {alert}"), type="xpass")
            outcome = "failure"
        else:
            ET.SubElement(case, "system-out").text = _xml_text(f"unexpected pass (drift alert): {alert}")
    warnings = check.get("warnings") or []
    if warnings and status != "xpass":
        ET.SubElement(case, "system-out").text = _xml_text(
            "\n".join(f"{w.get('category', 'Warning')}: {w.get('message', '')}" for w in warnings)
        )
    return outcome


def _runtime_suite(root: ET.Element, runtime: dict[str, Any]) -> dict[str, int]:
    """One testsuite per runtime, one testcase per (artifact, level, engine). What the gate judges (a deploy
    runtime on an auto artifact) fails; an accepted outcome, or one that is evidence only, is skipped."""
    suite = ET.SubElement(root, "testsuite", name=_xml_text(f"runtime {runtime['id']}"))
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for o in runtime["outcomes"]:
        case = ET.SubElement(suite, "testcase", classname=_xml_text(f"runtime {runtime['id']}"),
                             name=_xml_text(f"{o['artifact']} {o['level']} {o['engine']}"),
                             time=f"{o.get('seconds') or 0:.3f}")
        counts["tests"] += 1
        gated = runtime["deploy"] and o["artifact"].split("/")[1] == report_runtimes.GATED_STRATEGY
        message = _xml_text((o.get("error") or o["status"]).strip().splitlines()[-1][:500] if o.get("error")
                            else o["status"])
        if o["status"] == "pass":
            continue
        if o["accepted"] or not gated:
            why = f"expected: {o.get('reason')}" if o["accepted"] else "evidence only (not a deploy runtime's auto)"
            skipped = ET.SubElement(case, "skipped", message=_xml_text(f"{o['status']}: {why}"))
            skipped.text = _xml_text(o.get("error") or "")
            counts["skipped"] += 1
        else:
            kind = "failure" if o["status"] in ("fail", "incompatible") else "error"
            ET.SubElement(case, kind, message=message, type=o["status"]).text = _xml_text(o.get("error") or "")
            counts["failures" if kind == "failure" else "errors"] += 1
    for key, value in counts.items():
        suite.set(key, str(value))
    return counts


def render_junit(doc: dict[str, Any]) -> bytes:
    """One testsuite per cell, one testcase per model.check. An xpass is a passed testcase with a
    system-out note, or a failure when the policy (or --strict) makes an xpass fail the gate."""
    policy = doc["policy"]
    xpass_fails = policy.get("strict") or policy.get("xpass") == "fail"
    root = ET.Element("testsuites", name="alog-matrix")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for cell in doc["cells"]:
        suite = ET.SubElement(root, "testsuite", name=_xml_text(cell["id"]))
        if cell.get("finished"):
            suite.set("timestamp", _xml_text(cell["finished"]))
        properties = ET.SubElement(suite, "properties")
        for key, value in [("state", cell["state"]), *sorted(cell["environment"].items())]:
            if value is None:
                continue
            ET.SubElement(properties, "property", name=_xml_text(key), value=_xml_text(compact(value)))
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        seconds = 0.0
        for check in cell["checks"]:
            outcome = _testcase(suite, cell, check, xpass_fails)
            counts["tests"] += 1
            if outcome != "passed":
                counts[{"failure": "failures", "error": "errors", "skipped": "skipped"}[outcome]] += 1
            seconds += check.get("seconds") or 0
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
        suite.set("time", f"{seconds:.3f}")
    for runtime in doc.get("runtimes") or []:
        for key, value in _runtime_suite(root, runtime).items():
            totals[key] += value
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
