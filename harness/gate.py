"""`alog-matrix gate`: turn reports/matrix.json into a verdict and an exit code.

Exit codes:
  0  PASS   every slot passed, was an accepted failure (xfail), was skipped, or is an xpass
            under the default policy (reported as an alert);
  1  FAIL   some slot has a status in the policy's ``fail_on`` (default fail, error, crash,
            timeout), or an xpass under ``--strict`` / ``[gate] xpass = "fail"``;
  2  ERROR  the harness could not produce evidence: a matrix cell has no result file, a result
            file is unreadable, a cell's record says the harness errored, or matrix.json itself
            cannot be read. A known failure outranks missing evidence (exit 1), since more
            evidence cannot turn a failure into a pass.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from converter.errors import AlogError
from harness import drift, report_schema
from harness.matrix import load_matrix
from harness.report_model import DEFAULT_FAIL_ON, MISSING, REPORT_STATUSES, policy_from

EXIT_PASS, EXIT_FAIL, EXIT_NO_EVIDENCE = 0, 1, 2
WORDS = {EXIT_PASS: "PASS", EXIT_FAIL: "FAIL", EXIT_NO_EVIDENCE: "ERROR"}

# Cell states meaning the harness, not the converter, failed to deliver evidence.
NO_EVIDENCE_STATES = ("error", MISSING, "unreadable")


@dataclass
class Verdict:
    exit_code: int
    word: str
    counts: dict[str, int]
    messages: list[str] = field(default_factory=list)  # failures and problems first, then alerts, then changes
    alerts: list[str] = field(default_factory=list)
    report_path: str | None = None

    def __bool__(self) -> bool:
        return self.exit_code == EXIT_PASS

    @property
    def line(self) -> str:
        parts = []
        for status in REPORT_STATUSES:
            n = self.counts.get(status, 0)
            if n:
                parts.append(f"{n} xpass alert{'s' if n != 1 else ''}" if status == "xpass" else f"{n} {status}")
        text = f"alog-matrix gate: {self.word} ({', '.join(parts) or 'no checks'})"
        return f"{text} — report: {self.report_path}" if self.report_path else text

    def to_dict(self) -> dict[str, Any]:
        return {"exit_code": self.exit_code, "word": self.word, "line": self.line, "messages": list(self.messages)}


def _where(cell: dict[str, Any], check: dict[str, Any]) -> str:
    return f"{cell['id']} {check['model']}.{check['check']}"


def decide(
    report_doc: dict[str, Any],
    policy: dict[str, Any] | None = None,
    strict: bool = False,
    baseline: dict[str, Any] | None = None,
    expected_cells: list[str] | None = None,
    report_path: str | None = None,
) -> Verdict:
    """Judge a report document. ``policy`` defaults to the one recorded in the document;
    ``expected_cells`` (the matrix's cell ids) turns a cell absent from the report into missing evidence."""
    policy = dict(policy if policy is not None else report_doc.get("policy", {}))
    fail_on = set(policy.get("fail_on", DEFAULT_FAIL_ON))
    xpass_fails = strict or policy.get("strict") or policy.get("xpass") == "fail"
    failures: list[str] = []
    problems: list[str] = []
    alerts: list[str] = []
    reported = {cell["id"] for cell in report_doc["cells"]}
    for cell_id in expected_cells or ():
        if cell_id not in reported:
            problems.append(f"ERROR {cell_id}: no result in the report (the matrix lists this cell)")
    for cell in report_doc["cells"]:
        no_evidence = cell["state"] in NO_EVIDENCE_STATES
        if no_evidence:
            problems.append(f"ERROR {cell['id']}: {cell.get('problem') or 'the harness recorded an error for this cell'}")
        unreached = [c for c in cell["checks"] if not c.get("recorded", True)]
        if unreached and not no_evidence and unreached[0]["status"] in fail_on:
            failures.append(f"{cell['state'].upper()} {cell['id']}: {len(unreached)} checks never ran: {unreached[0].get('error')}")
        for check in cell["checks"]:
            recorded = check.get("recorded", True)
            if check["status"] == "xpass":
                message = drift.xpass_message(cell, check)
                alerts.append(message)
                if xpass_fails:
                    failures.append(f"XPASS {_where(cell, check)}: {message}")
            elif recorded and check["status"] in fail_on:
                detail = check.get("error") or check.get("root_cause") or "no message recorded"
                repro = f" (repro: {check['repro']})" if check.get("repro") else ""
                failures.append(f"{check['status'].upper()} {_where(cell, check)}: {detail}{repro}")
    changes: list[str] = []
    if baseline is not None:
        diff = drift.diff_against_baseline(baseline, report_doc)
        for key in ("new_failures", "fixed", "changed", "figure_moves"):
            changes += [f"CHANGE {item['message']}" for item in diff[key]]
        changes += [f"CHANGE cell added since baseline: {c}" for c in diff["cells_added"]]
        changes += [f"CHANGE cell gone since baseline: {c}" for c in diff["cells_removed"]]
    if failures:
        code = EXIT_FAIL
    elif problems:
        code = EXIT_NO_EVIDENCE
    else:
        code = EXIT_PASS
    alert_lines = [] if xpass_fails else [f"ALERT {a}" for a in alerts]
    return Verdict(
        exit_code=code,
        word=WORDS[code],
        counts=dict(report_doc.get("counts", {})),
        messages=failures + problems + alert_lines + changes,
        alerts=alerts,
        report_path=report_path,
    )


def read_report(path: Path) -> dict[str, Any]:
    """Load and validate a matrix.json; any problem is one AlogError line."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AlogError(f"report not found: {path} (run `alog-matrix report` first)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AlogError(f"cannot read report {path}: {exc}") from None
    report_schema.validate_report(doc, source=str(path))
    return doc


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("report", nargs="?", default="reports/matrix.json", type=Path,
                        help="the report document (default: reports/matrix.json)")
    parser.add_argument("--matrix", type=Path, default=None,
                        help="take the policy and the expected cells from this matrix.toml "
                        "(default: the policy recorded in the report)")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="a previous matrix.json: list what changed since then")
    parser.add_argument("--strict", action="store_true", help="an unexpected pass (xpass) fails the gate")


def run(args: argparse.Namespace) -> int:
    report_html = str(Path(args.report).with_name("index.html"))
    try:
        doc = read_report(args.report)
        baseline = read_report(args.baseline) if args.baseline else None
        matrix = load_matrix(args.matrix) if args.matrix else None
    except AlogError as exc:
        print(f"alog-matrix gate: ERROR ({exc})")
        return EXIT_NO_EVIDENCE
    verdict = decide(
        doc,
        policy=policy_from(matrix, args.strict) if matrix else None,
        strict=args.strict,
        baseline=baseline,
        expected_cells=[c.id for c in matrix.cells] if matrix else None,
        report_path=report_html,
    )
    for message in verdict.messages:
        print(f"  {message}")
    print(verdict.line)
    return verdict.exit_code
