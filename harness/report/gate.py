"""`alog-matrix gate`: turn a report document into a verdict and an exit code.

Exit codes (harness.cli's policy):
  0  PASS   every slot passed, was an accepted failure (xfail), was skipped, or is an xpass under the
            default policy (reported as an alert), and there is evidence for every cell;
  1  FAIL   some slot has a status in the policy's ``fail_on`` (default fail, error, crash, timeout), a cell
            whose process crashed or timed out (even after its last check) when ``fail_on`` names that, or
            an xpass under ``--strict`` / ``[gate] xpass = "fail"``;
  2  ERROR  no evidence: a matrix cell has no result, a result file is unreadable or duplicated, a cell's
            record says the harness stopped it, a cell recorded no check (or only skips), a check could not
            run (``missing``), a cell crashed or timed out and ``fail_on`` does not name it (what never ran
            is no evidence whatever the policy), a kept file the runtime evidence rests on is missing or
            unreadable (``evidence_problems``, each named), the report holds no cell, or the report or policy
            cannot be read. A known failure outranks missing evidence (exit 1): more evidence cannot turn a
            failure into a pass.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from converter.errors import AlogError, read_json
from harness.config.matrix import load_matrix
from harness.config.policy import Policy
from harness.ground.exits import EXIT_FAIL, EXIT_NO_EVIDENCE, EXIT_PASS
from harness.ground.names import STATUSES
from harness.report import drift
from harness.report import schema as report_schema
from harness.report.model import DEATHS, MISSING, NO_EVIDENCE_STATES, rejudge_document
from harness.report.runtimes import deploy_line, deploy_verdict

WORDS = {EXIT_PASS: "PASS", EXIT_FAIL: "FAIL", EXIT_NO_EVIDENCE: "ERROR"}


@dataclass
class Verdict:
    exit_code: int
    word: str
    counts: dict[str, int]
    messages: list[str] = field(default_factory=list)  # failures and problems first, then alerts, then changes
    alerts: list[str] = field(default_factory=list)
    report_path: str | None = None
    deploy: str = ""  # the deploy runtimes and how their auto outcomes went

    def __bool__(self) -> bool:
        return self.exit_code == EXIT_PASS

    @property
    def line(self) -> str:
        parts = []
        for status in STATUSES:
            n = self.counts.get(status, 0)
            if n:
                parts.append(f"{n} xpass alert{'s' if n != 1 else ''}" if status == "xpass" else f"{n} {status}")
        text = f"alog-matrix gate: {self.word} ({', '.join(parts) or 'no checks'}{self.deploy})"
        return f"{text} — report: {self.report_path}" if self.report_path else text

    def to_dict(self) -> dict[str, Any]:
        return {"exit_code": self.exit_code, "word": self.word, "line": self.line, "messages": list(self.messages)}


def _where(cell: dict[str, Any], check: dict[str, Any]) -> str:
    return f"{cell['id']} {check['model']}.{check['check']}"


def _evidence_problems(cell: dict[str, Any], policy: Policy) -> list[str]:
    """Why a cell gives no (or not enough) evidence; empty when its evidence is whole."""
    if cell["state"] in NO_EVIDENCE_STATES:
        return [f"ERROR {cell['id']}: {cell.get('problem') or 'the harness recorded an error for this cell'}"]
    problems = []
    if cell["state"] in DEATHS and cell["state"] not in policy.fail_on:
        # A policy may decline to fail a death, never to pass it: what never ran is no evidence.
        problems.append(f"ERROR {cell['id']}: {_death(cell)}; [gate] fail_on does not name {cell['state']}: "
                        "no evidence")
    recorded = [c for c in cell["checks"] if c.get("recorded", True)]
    if cell["state"] == "complete" and not recorded:
        return [f"ERROR {cell['id']}: the cell finished without recording any check: no evidence"]
    if cell["state"] == "complete" and all(c["status"] == "skip" for c in recorded):
        return [f"ERROR {cell['id']}: every check of the cell was skipped: no evidence"]
    missing = [c for c in cell["checks"] if c["status"] == MISSING]
    if missing:
        problems.append(f"ERROR {_where(cell, missing[0])}: {missing[0].get('error') or 'no evidence'}"
                        + (f" (and {len(missing) - 1} more checks without evidence)" if len(missing) > 1 else ""))
    return problems


def _death(cell: dict[str, Any]) -> str:
    """How a crashed or timed-out cell ended, and how many of its checks never ran."""
    unreached = sum(1 for c in cell["checks"] if not c.get("recorded", True))
    how = "crashed" if cell["state"] == "crash" else "timed out"
    after = f"{unreached} checks never ran" if unreached else "after its last check"
    return f"the cell {how} ({cell.get('signal') or 'unknown signal'}), {after}"


def _failures(cell: dict[str, Any], policy: Policy) -> tuple[list[str], list[str]]:
    """(failures, xpass alerts) of one cell under the policy."""
    failures: list[str] = []
    alerts: list[str] = []
    unreached = [c for c in cell["checks"] if not c.get("recorded", True)]
    if unreached and cell["state"] not in NO_EVIDENCE_STATES and unreached[0]["status"] in policy.fail_on:
        failures.append(f"{cell['state'].upper()} {cell['id']}: {len(unreached)} checks never ran: "
                        f"{unreached[0].get('error')}")
    elif not unreached and cell["state"] in DEATHS and cell["state"] in policy.fail_on:
        # Every check was saved and the process died after them (at exit): the death still fails the cell.
        failures.append(f"{cell['state'].upper()} {cell['id']}: {_death(cell)}: "
                        f"{(cell.get('output_tail') or 'no output recorded').splitlines()[0]}")
    for check in cell["checks"]:
        if check["status"] == "xpass":
            message = drift.xpass_message(cell, check)
            alerts.append(message)
            if policy.xpass_fails:
                failures.append(f"XPASS {_where(cell, check)}: {message}")
        elif check.get("recorded", True) and check["status"] in policy.fail_on:
            detail = check.get("error") or check.get("root_cause") or "no message recorded"
            repro = f" (repro: {check['repro']})" if check.get("repro") else ""
            failures.append(f"{check['status'].upper()} {_where(cell, check)}: {detail}{repro}")
    return failures, alerts


def decide(
    report_doc: dict[str, Any],
    policy: Policy,
    baseline: dict[str, Any] | None = None,
    expected_cells: list[str] | None = None,
    report_path: str | None = None,
) -> Verdict:
    """Judge a report document under ``policy``; ``expected_cells`` (the matrix's cell ids) turns a cell
    absent from the report into missing evidence."""
    failures: list[str] = []
    problems: list[str] = []
    alerts: list[str] = []
    if not report_doc["cells"]:
        problems.append("ERROR the report holds no cell: no evidence")
    reported = {cell["id"] for cell in report_doc["cells"]}
    problems += [f"ERROR {cell_id}: no result in the report (the matrix lists this cell)"
                 for cell_id in expected_cells or () if cell_id not in reported]
    for cell in report_doc["cells"]:
        problems += _evidence_problems(cell, policy)
        cell_failures, cell_alerts = _failures(cell, policy)
        failures += cell_failures
        alerts += cell_alerts
    problems += [f"ERROR {problem}" for problem in report_doc.get("evidence_problems") or []]
    deploy_failures, deploy_problems = deploy_verdict(report_doc)
    failures += deploy_failures
    problems += deploy_problems
    changes: list[str] = []
    if baseline is not None:
        diff = drift.diff_against_baseline(baseline, report_doc)
        for key in ("new_failures", "fixed", "changed", "figure_moves"):
            changes += [f"CHANGE {item['message']}" for item in diff[key]]
        changes += [f"CHANGE cell added since baseline: {c}" for c in diff["cells_added"]]
        changes += [f"CHANGE cell gone since baseline: {c}" for c in diff["cells_removed"]]
    code = EXIT_FAIL if failures else EXIT_NO_EVIDENCE if problems else EXIT_PASS
    alert_lines = [] if policy.xpass_fails else [f"ALERT {a}" for a in alerts]
    return Verdict(exit_code=code, word=WORDS[code], counts=dict(report_doc.get("counts", {})),
                   messages=failures + problems + alert_lines + changes, alerts=alerts, report_path=report_path,
                   deploy=deploy_line(report_doc))


def read_report(path: Path, what: str = "report") -> dict[str, Any]:
    """Load and validate a matrix.json (``what`` names it in errors); any problem is one AlogError line."""
    hint = " (run `alog-matrix report` first)" if what == "report" else ""
    doc = read_json(path, f"{what} not found: {path}{hint}", what=f"{what} ")
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
        baseline = read_report(args.baseline, "baseline report") if args.baseline else None
        matrix = load_matrix(args.matrix) if args.matrix else None
        policy = (replace(matrix.policy, strict=args.strict or matrix.policy.strict) if matrix
                  else Policy.from_mapping(doc.get("policy"), f"{args.report} policy", args.strict))
    except AlogError as exc:
        print(f"alog-matrix gate: ERROR ({exc})", file=sys.stderr)
        return EXIT_NO_EVIDENCE
    if matrix is not None:  # judged with today's expectations, as the report would be built now
        doc = rejudge_document(doc, matrix)
    verdict = decide(doc, policy, baseline=baseline, expected_cells=[c.id for c in matrix.cells] if matrix else None,
                     report_path=report_html)
    for message in verdict.messages:
        print(f"  {message}")
    print(verdict.line)
    return verdict.exit_code
