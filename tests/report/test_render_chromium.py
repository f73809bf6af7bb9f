"""Open the report in headless Chromium and check what a person would see.

Chromium comes from Debian's `chromium` package; ensure_chromium.sh installs it when it is absent.
The screenshot is kept as reports/report-test-screenshot.png for a human look.
"""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest
from browser import WINDOW, chromium, run_chromium
from domtext import parse
from report_factory import CELLS, healthy_world, make_cell, matrix_toml

from harness.report.build import build_report
from harness.ground.names import CHECK_NAMES as CHECKS

HERE = Path(__file__).resolve().parent
REPO_REPORTS = HERE.parents[1] / "reports"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """A report with one of everything (fail with repro, xpass, crash, missing cell, baseline change),
    rendered by Chromium: (the parsed DOM, the screenshot path)."""
    root = tmp_path_factory.mktemp("chromium-report")
    matrix = root / "matrix.toml"
    matrix.write_text(matrix_toml(cells=dict(CELLS, **{"torch-2.15.0": ("2.15.0", "2.3.3", "1.23.2", "0.7.2", "1.32.0")})))
    cells_dir = root / "reports" / "cells"
    cells_dir.mkdir(parents=True)
    for cell in healthy_world():
        cell.write(cells_dir / f"{cell.cell_id}.json")
    build_report(cells_dir, matrix, root / "old")
    world = [
        make_cell("torch-1.13.1", {("mscred", "cengine"): dict(
            status="fail", error="engine output differs from PyTorch: max abs error 4.2e-04 > atol 1e-05",
            root_cause="ParityMismatch: reconstruction[0, 2, 11, 7] engine 0.8127 vs torch 0.8123",
            figures={"max_abs_error": 4.2e-4, "max_rel_error": 5.1e-4, "examples": 9},
            repro="reports/repro/torch-1.13.1/mscred-cengine",
            detail={"engine": "cengine/bin/inference_engine"},
            replay="python -m harness.parity replay reports/repro/torch-1.13.1/mscred-cengine")}),
        make_cell("torch-2.8.0", {("deeplog", "dynamo_export"): dict(status="xpass", error=None, root_cause=None)}),
        make_cell("torch-2.9.1", status="crash", signal="SIGSEGV", checks=[("deeplog", c) for c in CHECKS[:4]],
                  output_tail="Fatal Python error: Segmentation fault\nCurrent thread 0x00007f (most recent call first):\n  File \"torch/onnx/utils.py\", line 1612 in _export"),
        make_cell("torch-2.13.0", {("mscred", "dynamic_axes"): dict(
            status="fail", error="sequence axis frozen: graph input signatures is [batch, 10, 3, 25, 25]",
            detail={"inputs": {"signatures": ["batch", 10, 3, 25, 25]}, "exporter": "dynamo"},
            repro="reports/repro/torch-2.13.0/mscred-dynamic_axes",
            replay="python -m harness.parity replay reports/repro/torch-2.13.0/mscred-dynamic_axes")}),
    ]
    for cell in world:
        cell.write(cells_dir / f"{cell.cell_id}.json")
    index = build_report(cells_dir, matrix, root / "reports", baseline=root / "old" / "matrix.json").index

    browser = chromium()
    shot = root / "index.png"
    proc = run_chromium(browser, index.as_uri(), f"--screenshot={shot}")
    assert shot.is_file() and shot.stat().st_size > 50_000, proc.stderr[-2000:]
    REPO_REPORTS.mkdir(exist_ok=True)
    shutil.copyfile(shot, REPO_REPORTS / "report-test-screenshot.png")
    dom = run_chromium(browser, index.as_uri(), "--dump-dom")
    assert dom.returncode == 0 and "</html>" in dom.stdout, dom.stderr[-2000:]
    return parse(dom.stdout), shot


def test_screenshot_is_a_full_window_png(rendered):
    _, shot = rendered
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == WINDOW


def test_verdict_and_counts_are_at_the_top(rendered):
    dom, _ = rendered
    verdict = dom.find("section", id="verdict")
    assert verdict.find(cls="word").text() == "FAIL"
    chips = [chip.text() for chip in verdict.find_all("span", cls="count")]
    assert "2 fail" in chips and "1 xpass" in chips and f"{2 * len(CHECKS) - 4} crash" in chips
    assert f"{2 * len(CHECKS)} missing" in chips
    assert verdict.find(cls="line").text().startswith("alog-matrix gate: FAIL (")


def test_grid_shows_every_cell_and_check(rendered):
    dom, _ = rendered
    grid = dom.find("table", cls="grid")
    headers = grid.find("thead").find_all("th")[1:]
    assert [th.find("a").text() for th in headers] == list(CELLS) + ["torch-2.15.0"]
    assert [th.find(cls="torch").text() for th in headers] == [
        "torch 1.13.1", "torch 2.8.0", "torch 2.9.1 · crash", "torch 2.13.0", "torch 2.15.0 · missing"]
    assert len(grid.find("tbody").find_all("td")) == 5 * 2 * len(CHECKS)
    groups = [th.text() for tr in grid.find_all("tr", cls="model") for th in tr.find_all("th")]
    assert groups == ["DeepLog", "MSCRED"]
    rows = [tr for tr in grid.find_all("tr") if tr.find_all("th", cls="check")]
    assert [tr.find("th").text() for tr in rows] == list(CHECKS) * 2
    mscred_cengine = rows[len(CHECKS) + CHECKS.index("cengine")]
    assert [td.text() for td in mscred_cengine.find_all("td")] == ["fail", "pass", "crash", "pass", "missing"]
    assert [td.classes for td in mscred_cengine.find_all("td")] == [{"s-fail"}, {"s-pass"}, {"s-crash"}, {"s-pass"}, {"s-missing"}]
    deeplog_dynamo = rows[CHECKS.index("dynamo_export")]
    assert [td.text() for td in deeplog_dynamo.find_all("td")] == ["xfail", "xpass", "crash", "pass", "missing"]


def test_legend_explains_every_status(rendered):
    dom, _ = rendered
    legend = dom.find(cls="legend").text()
    for status in ("pass", "fail", "xfail", "xpass", "error", "skip", "crash", "timeout", "missing"):
        assert status in legend
    assert "passed although matrix.toml expects a failure: drift alert" in legend


def test_drift_alert_and_baseline_changes_are_shown(rendered):
    dom, _ = rendered
    alerts = [li.text() for li in dom.find_all("li", cls="alert-xpass")]
    assert len(alerts) == 1
    assert alerts[0].startswith("torch-2.8.0 deeplog.dynamo_export: dynamo export now succeeds for DeepLog on torch 2.8.0")
    changes = [li.text() for li in dom.find_all("li", cls="change")]
    assert "new failure: MSCRED cengine on torch-1.13.1 is now fail (was pass): engine output differs from PyTorch: max abs error 4.2e-04 > atol 1e-05" in changes
    # The crashed cell's 16 unreached checks are one line, not sixteen.
    assert (f"new failure: {2 * len(CHECKS) - 4} checks on torch-2.9.1 are now crash (were pass/skip/xfail): "
            "cell torch-2.9.1 crashed (SIGSEGV) before this check ran") in changes
    assert "changed: DeepLog dynamo_export on torch-2.8.0 went from xfail to xpass" in changes
    assert len(changes) == 6  # + the dynamic axes failure and the two figure moves of the failing engine check
    assert "cell added: torch-2.15.0" not in changes  # the baseline's matrix already listed it (as missing)


def test_drill_down_holds_the_failure_evidence(rendered):
    dom, _ = rendered
    cell = dom.find("details", id="cell-torch-1.13.1")
    assert "open" in cell.attrs  # a failing cell opens by itself
    card = cell.find(id="slot-torch-1.13.1-mscred-cengine")
    text = card.text()
    for expected in ("fail cengine", "error engine output differs from PyTorch: max abs error 4.2e-04 > atol 1e-05",
                     "root cause ParityMismatch: reconstruction[0, 2, 11, 7] engine 0.8127 vs torch 0.8123",
                     "max_abs_error = 0.00042", "repro bundle reports/repro/torch-1.13.1/mscred-cengine",
                     "replay python -m harness.parity replay reports/repro/torch-1.13.1/mscred-cengine"):
        assert expected in text
    environment = cell.find("dl", cls="kv").text()
    assert "torch 1.13.1" in environment and "onnxruntime 1.16.3" in environment
    dynamo = cell.find(id="slot-torch-1.13.1-deeplog-dynamo_export").text()
    assert "expectation torch 1.13.1 has no dynamo keyword: export() raises TypeError" in dynamo
    assert "root cause TypeError: export() got an unexpected keyword argument 'dynamo'" in dynamo
    legacy = cell.find(id="slot-torch-1.13.1-deeplog-legacy_export").text()
    assert "exporter used torchscript" in legacy and "opset 17" in legacy and "graph inputs sequences [batch, seq]" in legacy
    assert "LSTM×2" in legacy


def test_drill_down_lists_export_attempts_and_how_to_replay(rendered):
    dom, _ = rendered
    auto = dom.find(id="slot-torch-2.8.0-deeplog-auto_export").text()
    assert "strategy asked auto" in auto and "exporter used torchscript" in auto
    assert ("attempts dynamo (dynamo=True): exception — Failed to convert the exported program to an ONNX model "
            "[root cause: DispatchError: No ONNX function found for <OpOverload(op='aten.index', overload='Tensor')>] "
            "· 6.10 s torchscript (dynamo=False): ok · opset 17 · 0.20 s") in auto
    xpass = dom.find(id="slot-torch-2.8.0-deeplog-dynamo_export").text()
    assert "drift alert dynamo export now succeeds for DeepLog on torch 2.8.0" in xpass
    axes = dom.find(id="slot-torch-2.13.0-mscred-dynamic_axes").text()
    assert "repro bundle reports/repro/torch-2.13.0/mscred-dynamic_axes" in axes
    assert "replay python -m harness.parity replay reports/repro/torch-2.13.0/mscred-dynamic_axes" in axes
    assert "README.txt" not in axes


def test_drill_down_of_a_crashed_and_a_missing_cell(rendered):
    dom, _ = rendered
    crashed = dom.find("details", id="cell-torch-2.9.1").text()
    assert "The cell's process died (SIGSEGV)" in crashed
    assert 'File "torch/onnx/utils.py", line 1612 in _export' in crashed
    assert f"never ran: {', '.join(CHECKS[:2])}" in crashed  # every MSCRED check
    missing = dom.find("details", id="cell-torch-2.15.0").text()
    assert "no result file for cell torch-2.15.0" in missing


def test_grid_headers_name_companions_and_autos_choice(rendered):
    dom, _ = rendered
    headers = [th.text() for th in dom.find("table", cls="grid").find("thead").find_all("th")]
    old = next(h for h in headers if h.startswith("torch-2.8.0"))
    assert "onnxscript 0.4.0" in old and "onnxruntime 1.22.1" in old and "numpy 2.2.6" in old
    assert "DeepLog: auto → TorchScript (exception)" in old and "MSCRED: auto → dynamo" in old
    new = next(h for h in headers if h.startswith("torch-2.13.0"))
    assert "DeepLog: auto → dynamo" in new


def test_drift_view_lists_each_cells_torch_and_artifacts_against_the_golden_outputs(rendered):
    dom, _ = rendered
    tables = dom.find_all("table", cls="drift")
    assert len(tables) == 2  # DeepLog and MSCRED
    rows = [tr.text() for tr in tables[0].find_all("tr")]
    assert rows[0] == "cell torch legacy artifact dynamo artifact auto artifact"
    assert any(r.startswith("torch-2.13.0 0 9.5e-07 9.5e-07 9.5e-07") for r in rows)
    assert any(r.startswith("torch-1.13.1 3e-08 9.5e-07 — 9.5e-07") for r in rows)  # no dynamo keyword: no artifact


def test_worst_error_chart_has_a_bar_per_cell_and_model(rendered):
    dom, _ = rendered
    svg = dom.find("svg")
    bars = svg.find_all("rect")
    titles = [b.find("title").text() for b in bars if b.find_all("title")]
    assert len(titles) == 6  # (1.13.1, 2.8.0, 2.13.0) x 2 models; the crashed and missing cells recorded none
    assert "torch-1.13.1 mscred: worst max_abs_error 0.00042 (from cengine)" in titles
    assert "atol 1e-05" in svg.text()
