"""Which rows the history shows: those that moved in the last runs, and those failing now; a runtime's refusal
that has not moved (an old runtime that cannot read a new IR) is the answer matrix's to show, not news."""

from __future__ import annotations

from harness.report import history

REFUSED = "ort-1.15.0 torch-2.13.0/auto/deeplog python"


def _record(when: str, rows: dict[str, str], atol: float = 1e-5) -> dict:
    return {"format": history.FORMAT, "generated": when, "verdict": "PASS", "counts": {}, "rows": rows,
            "versions": {}, "keys": {"host": {"tolerance": {"atol": atol}}}}


def test_only_rows_that_moved_or_fail_are_shown_with_what_changed():
    records = [_record("2026-12-07T10:00:00+00:00", {"host deeplog.parity": "pass", "host mscred.parity": "fail",
                                                     REFUSED: "incompatible", "ort-1.21.1 host/auto/deeplog c": "pass"}),
               _record("2026-12-07T11:00:00+00:00", {"host deeplog.parity": "fail", "host mscred.parity": "fail",
                                                     REFUSED: "incompatible", "ort-1.21.1 host/auto/deeplog c": "incompatible"},
                       atol=1e-9)]
    rows = {r["row"]: r for r in history.view(records)["rows"]}
    assert set(rows) == {"host deeplog.parity", "host mscred.parity", "ort-1.21.1 host/auto/deeplog c"}
    assert rows["host deeplog.parity"]["change"] == "new since the previous run"
    assert rows["host deeplog.parity"]["key_changes"] == ["[tolerance] changed (atol 1e-05 -> 1e-09)"]
    assert rows["host mscred.parity"]["change"] is None and rows["host mscred.parity"]["since"] == records[0]["generated"]
    assert rows["ort-1.21.1 host/auto/deeplog c"]["change"] == "new since the previous run"
