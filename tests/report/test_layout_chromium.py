"""The report at 1280x800, as a release manager opens it: the page never scrolls sideways, each grid scrolls
inside its own box with its header and first column sticky, and the answer matrix's header and first rows are
in the first screen. A probe script, added to a copy of the page (the report itself has none), measures the
layout in Chromium and writes what it found into the DOM."""

from __future__ import annotations

import json
import re

import pytest
from browser import chromium, run_chromium
from deploy_world import build

from harness.report.build import build_report

WINDOW = (1280, 800)
PROBE = """<script>
window.addEventListener("load", () => {
  const root = document.documentElement, sticky = (el) => el ? getComputedStyle(el).position : null;
  const grids = [...document.querySelectorAll("table.grid")].map((table) => {
    const box = table.parentElement, style = getComputedStyle(box);
    return {id: table.id || table.className, width: table.getBoundingClientRect().width, box_width: box.clientWidth,
            box_overflow_x: style.overflowX, header: sticky(table.querySelector("thead th")),
            corner: sticky(table.querySelector("thead th:first-child")),
            first_column: sticky(table.querySelector("tbody th[scope=row]"))};
  });
  const answer = document.getElementById("answer");
  const rows = [...answer.querySelectorAll("tbody tr")].slice(0, 3).map((tr) => tr.getBoundingClientRect());
  const probe = document.createElement("pre");
  probe.id = "layout-probe";
  probe.textContent = JSON.stringify({
    inner: [innerWidth, innerHeight], scroll_width: root.scrollWidth, client_width: root.clientWidth,
    body_scroll_width: document.body.scrollWidth, grids,
    answer_header: answer.querySelector("thead").getBoundingClientRect(),
    answer_rows: rows.map((r) => ({top: r.top, bottom: r.bottom, left: r.left, right: r.right}))});
  document.body.appendChild(probe);
});
</script>"""


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    matrix, cells_dir, out_dir = build(tmp_path_factory.mktemp("layout"))
    index = build_report(cells_dir, matrix, out_dir).index
    probed = index.with_name("probed.html")
    probed.write_text(index.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = run_chromium(chromium(), probed.as_uri(), "--dump-dom", window=WINDOW)
    found = re.search(r'<pre id="layout-probe">(.*?)</pre>', dom.stdout, re.DOTALL)
    assert found, dom.stderr[-2000:]
    import html

    return json.loads(html.unescape(found.group(1)))


def test_the_page_body_never_scrolls_sideways_at_1280(layout):
    assert layout["inner"][0] == WINDOW[0]
    assert layout["scroll_width"] <= layout["client_width"] == WINDOW[0]
    assert layout["body_scroll_width"] <= WINDOW[0]


def test_each_grid_fits_or_scrolls_in_its_own_box_with_sticky_header_and_first_column(layout):
    grids = {g["id"]: g for g in layout["grids"]}
    assert {"answer", "check-grid", "grid runtimes"} <= set(grids)
    for grid in grids.values():
        assert grid["box_overflow_x"] == "auto", grid
        assert grid["header"] == grid["corner"] == grid["first_column"] == "sticky", grid
        assert grid["box_width"] <= WINDOW[0]
    # the shipped shape (7 cells, 3 runtimes) fits without scrolling sideways at all
    assert all(g["width"] <= g["box_width"] for g in grids.values()), grids


def test_the_answer_matrix_header_and_first_rows_are_in_the_first_screen(layout):
    height = layout["inner"][1]
    header = layout["answer_header"]
    assert 0 <= header["top"] and header["bottom"] <= height, (header, height)
    assert len(layout["answer_rows"]) == 3
    for row in layout["answer_rows"]:
        assert row["bottom"] <= height and row["left"] >= 0 and row["right"] <= WINDOW[0], (row, height)
