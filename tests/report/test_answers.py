"""The deployment answer matrix: derived here, independently, from matrix.json's outcomes and compared cell by
cell with what index.html, summary.md and matrix.json's ``answers`` show, on the shipped matrix's shape
(deploy_world: 32 artifacts, ort-1.15.0 refusing the IR-10 ones and without a C engine)."""

from __future__ import annotations

import copy
import json
import re

import pytest
from deploy_world import CRASH, DYNAMO_CELLS, NO_DYNAMO, WRONG, build, is_dynamo_file
from domtext import parse
from packaging.version import Version

from harness.report.build import build_report

SUPERSCRIPT = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    matrix, cells_dir, out_dir = build(tmp_path_factory.mktemp("answers"))
    built = build_report(cells_dir, matrix, out_dir)
    doc = json.loads((out_dir / "matrix.json").read_text(encoding="utf-8"))
    return built, doc, parse((out_dir / "index.html").read_text(encoding="utf-8")), \
        (out_dir / "summary.md").read_text(encoding="utf-8")


def expected_symbol(engine: str, outcomes: list[dict], levels: list[str]) -> str:
    statuses = {o["status"] for o in outcomes}
    if statuses & {"crash", "error"}:
        return "!"
    if "fail" in statuses:
        return "✘"
    if "incompatible" in statuses:
        model_refused = engine == "python" or any("cannot load model" in (o["error"] or "") for o in outcomes)
        return "⊘" if model_refused else "–"
    return "✔" if {o["level"] for o in outcomes} == set(levels) else "?"


def derive(doc: dict) -> tuple[list[str], list[tuple[str, dict[str, tuple[str, str] | None]]]]:
    """(runtime ids, [(row label, {runtime: (python, c) or None for no artifact})]) from the document alone."""
    runtimes = sorted(doc["runtimes"], key=lambda r: Version(r["onnxruntime"]))
    cells = sorted(doc["cells"], key=lambda c: Version(c["torch"]))
    artifacts = {a["key"] for a in doc["artifacts"]} | {o["artifact"] for r in runtimes for o in r["outcomes"]}
    rows = []
    for cell in cells:
        for strategy in ("auto", "legacy", "dynamo"):
            for model in doc["models"]:
                key = f"{cell['id']}/{strategy}/{model}"
                check = next(c for c in cell["checks"] if c["model"] == model and c["check"] == f"{strategy}_export")
                if key not in artifacts and check["status"] == "skip":
                    continue
                slots: dict[str, tuple[str, str] | None] = {}
                for r in runtimes:
                    if key not in artifacts:
                        slots[r["id"]] = None
                        continue
                    mine = [o for o in r["outcomes"] if o["artifact"] == key]
                    slots[r["id"]] = tuple(expected_symbol(e, [o for o in mine if o["engine"] == e], r["levels"])
                                           for e in ("python", "c"))  # type: ignore[assignment]
                rows.append((f"{cell['id']} {strategy} {model}", slots))
    return [r["id"] for r in runtimes], rows


def html_matrix(dom) -> tuple[list[str], list[tuple[str, dict]]]:
    table = dom.find("table", id="answer")
    ids = [th.find("span", cls="rid").text() for th in table.find("thead").find_all("th")[1:]]
    rows = []
    for tr in table.find("tbody").find_all("tr"):
        tds = tr.find_all("td")
        if len(tds) == 1 and tds[0].attrs.get("colspan") == str(len(ids)):
            slots = dict.fromkeys(ids)
        else:
            assert len(tds) == len(ids)
            slots = {}
            for runtime, td in zip(ids, tds, strict=True):
                symbols = {s.attrs["data-engine"]: s.text() for s in td.find_all("span", cls="sym")}
                slots[runtime] = (symbols["python"], symbols["c"])
        rows.append((tr.find("th").text(), slots))
    return ids, rows


def test_the_html_answer_matrix_equals_one_derived_from_matrix_json_outcomes(report):
    _, doc, dom, _ = report
    ids, rows = derive(doc)
    assert html_matrix(dom) == (ids, rows)
    assert len(rows) == 7 * 3 * 2 and sum(1 for _, s in rows if s[ids[0]] is None) == 2 * len(NO_DYNAMO)


def test_matrix_json_and_summary_md_say_the_same(report):
    _, doc, _, summary = report
    ids, rows = derive(doc)
    answers = doc["answers"]
    assert [r["id"] for r in answers["runtimes"]] == ids
    assert [(r["label"], {rid: (s["python"]["symbol"], s["c"]["symbol"]) for rid, s in r["answers"].items()}
             if r["artifact"] else dict.fromkeys(ids)) for r in answers["rows"]] == rows
    lines = summary.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| cell strategy model |")) + 2
    table = lines[start:start + len(rows)]
    for line, (label, slots) in zip(table, rows, strict=True):
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[0] == label
        for runtime, text in zip(ids, cells[1:], strict=True):
            plain = re.sub("[0-9]", "", text.translate(SUPERSCRIPT))
            assert plain == ("∅" if slots[runtime] is None else " ".join(slots[runtime])), (label, runtime, text)


def test_ort_1_15_takes_every_torchscript_file_refuses_the_ir_10_ones_and_has_no_c_engine(report):
    _, doc, dom, summary = report
    ids, rows = html_matrix(dom)
    column = [slots["ort-1.15.0"] for _, slots in rows if slots["ort-1.15.0"] is not None]
    assert [py for py, _ in column].count("✔") == 24 and [py for py, _ in column].count("⊘") == 8
    assert {c for _, c in column} == {"–"}
    refused = {label for label, slots in rows if slots["ort-1.15.0"] and slots["ort-1.15.0"][0] == "⊘"}
    assert refused == {f"{cell} {s} {m}" for cell in DYNAMO_CELLS for s in ("auto", "dynamo") for m in ("deeplog", "mscred")}
    assert all(is_dynamo_file(label.replace(" ", "/")) for label in refused)
    line = "Python: 24 take, 8 refused — IR 10 > 9; C engine: not available, C API 21 needed"
    assert next(r for r in doc["answers"]["runtimes"] if r["id"] == "ort-1.15.0")["line"] == line
    lines = [li.text() for li in dom.find("ul", cls="rt-lines").find_all("li")]
    assert f"ort-1.15.0: {line}" in lines and lines[1].startswith("ort-1.21.1 deploy: Python: 32 take; C engine: 32 take")
    assert "- **ort-1.15.0**: Python: 24 take, 8 refused — IR 10 &gt; 9; C engine: not available, C API 21 needed" in summary
    # the C engine's absence is an accepted outcome, marked as one, with the expectation's reason on hover
    first = dom.find("table", id="answer").find("tbody").find("tr")
    c_engine = [s for s in first.find_all("td")[0].find_all("span", cls="sym") if s.attrs["data-engine"] == "c"][0]
    assert "accepted" in c_engine.classes and "C API 21" in c_engine.attrs["title"]


def test_rows_and_columns_are_in_version_order_auto_first_and_deploy_is_marked(report):
    _, _, dom, _ = report
    ids, rows = html_matrix(dom)
    assert ids == ["ort-1.15.0", "ort-1.21.1", "ort-1.32.0"]  # matrix.toml lists ort-1.32.0 first
    labels = [label for label, _ in rows]
    assert labels[:6] == ["torch-1.13.1 auto deeplog", "torch-1.13.1 auto mscred", "torch-1.13.1 legacy deeplog",
                          "torch-1.13.1 legacy mscred", "torch-1.13.1 dynamo deeplog", "torch-1.13.1 dynamo mscred"]
    cells = list(dict.fromkeys(label.split()[0] for label in labels))
    assert cells == ["torch-1.13.1", "torch-2.1.2", "torch-2.4.1", "torch-2.8.0", "torch-2.9.1", "torch-2.13.0",
                     "torch-2.15.0"]
    headers = dom.find("table", id="answer").find("thead").find_all("th")[1:]
    assert ["deploy" in th.classes for th in headers] == [False, True, False]
    runtime_grid = [th.text() for th in dom.find("table", cls="runtimes").find("tbody").find_all("th")]
    assert runtime_grid[:3] == ["torch-1.13.1/auto/deeplog", "torch-1.13.1/auto/mscred", "torch-1.13.1/legacy/deeplog"]
    assert runtime_grid.index("torch-2.4.1/auto/deeplog") < runtime_grid.index("torch-2.13.0/auto/deeplog")
    grid = [th.find("a").text() for th in dom.find("table", id="check-grid").find("thead").find_all("th")[1:]
            if th.find_all("a")]
    assert grid == cells


def test_a_row_without_artifact_says_why_from_its_export_check(report):
    _, doc, dom, _ = report
    tr = next(tr for tr in dom.find("table", id="answer").find("tbody").find_all("tr")
              if tr.find("th").text() == "torch-2.9.1 dynamo deeplog")
    text = tr.find("td").text()
    assert text.startswith("∅") and "no artifact: exception during graph capture (torch.export / dynamo): " in text
    row = next(r for r in doc["answers"]["rows"] if r["label"] == "torch-2.9.1 dynamo deeplog")
    assert row["artifact"] is None and row["reason"] == f"xfail: {NO_DYNAMO['torch-2.9.1']}" and row["accepted"]
    note = dom.find("li", id=f"answer-note-{row['note']}").text()
    assert NO_DYNAMO["torch-2.9.1"] in note and "torch-2.9.1 dynamo deeplog" in note


def test_wrong_numbers_and_a_crash_show_with_their_reasons_in_tooltips_and_notes(report):
    _, doc, dom, _ = report
    by_label = dict(html_matrix(dom)[1])
    runtime, key, _, _ = WRONG
    assert by_label[key.replace("/", " ")][runtime] == ("✘", "✔")
    runtime, key, _ = CRASH
    assert by_label[key.replace("/", " ")][runtime] == ("✔", "!")
    notes = {n["state"]: n for n in doc["answers"]["notes"]}
    assert notes["wrong"]["short"] == "max abs error 0.00031" and notes["wrong"]["where"] == [
        {"place": "ort-1.32.0 Python", "count": 1}]
    assert "signal 11" in dom.find("li", id=f"answer-note-{notes['error']['number']}").text()
    refused = next(s for s in dom.find("table", id="answer").find_all("span", cls="k-refused"))
    assert "Unsupported model IR version: 10, max supported IR version: 9" in refused.attrs["title"]
    assert "onnxruntime::Model::Model" not in refused.attrs["title"]  # the C++ source place is left out


def test_the_deploy_runtime_keeps_the_gate_green(report):
    built, doc, _, _ = report
    assert built.verdict.word == "PASS", built.verdict.messages
    deploy = next(r for r in doc["answers"]["runtimes"] if r["deploy"])
    assert deploy["id"] == "ort-1.21.1" and deploy["counts"] == {"python": {"agrees": 32}, "c": {"agrees": 32}}


def test_reasons_are_escaped_in_html_and_markdown(report):
    from harness.report.answers import answer_matrix
    from harness.report.render import render_html, render_summary

    _, doc, _, _ = report
    doc = copy.deepcopy(doc)
    hostile = '<img src=x onerror="alert(1)"> | `code` [link](http://x) **bold**'
    runtime = next(r for r in doc["runtimes"] if r["id"] == WRONG[0])
    for o in runtime["outcomes"]:
        if o["status"] == "fail":
            o["error"], o["figures"] = hostile, {}
    cell = next(c for c in doc["cells"] if c["id"] == "torch-2.9.1")
    for check in cell["checks"]:
        if check["check"] == "dynamo_export":
            check["error"] = hostile
    doc["answers"] = answer_matrix(doc)
    html, summary = render_html(doc), render_summary(doc)
    assert "<img" not in html and "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in html
    assert "<img" not in summary and "&lt;img src=x" in summary and "\\| \\`code\\`" in summary
