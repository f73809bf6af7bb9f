"""The matrix's memory: one compact record per run in ``<reports>/history/``, and what changed since.

A record holds the verdict, each check's status (cell, model, check) with its key figure, each runtime
outcome summed over the levels (runtime, artifact, engine), the versions, each cell's evidence key parts and
the git commit of the matrix's folder when it has one. From the records the report shows the last runs of
every row that moved as a strip of statuses ("new since the previous run", "fixed since the previous run"),
and ``alog-matrix history`` says when each such row took its present status and what its evidence key
changed then.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from converter import atomic
from harness.evidence.keys import EvidenceKey

FOLDER = "history"
FORMAT, VERSION = "alog-history", 1
STRIP = 10  # runs a row's strip shows
GOOD = ("pass", "xfail", "skip")  # a row in one of these is not failing


def git_commit(folder: Path) -> str | None:
    """The commit checked out in ``folder``'s repository (with "+dirty" when files differ), or None."""
    try:
        head = subprocess.run(["git", "-C", str(folder), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                              text=True, timeout=10, check=False)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=30, check=False)
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _runtime_status(outcomes: list[dict[str, Any]]) -> str:
    """One word for an artifact's outcomes on one engine over every level: the worst, "(accepted)" when an
    expectation takes it."""
    for status in ("crash", "error", "fail", "incompatible", "pass"):
        found = [o for o in outcomes if o["status"] == status]
        if found:
            return status if status == "pass" or not all(o["accepted"] for o in found) else f"{status} (accepted)"
    return "none"


def run_record(doc: dict[str, Any], commit: str | None) -> dict[str, Any]:
    """The compact record of one report."""
    checks = {f"{c['id']} {k['model']}.{k['check']}": k["status"] for c in doc["cells"] for k in c["checks"]}
    figures = {f"{c['id']} {k['model']}.{k['check']}": k["figures"]["max_abs_error"] for c in doc["cells"]
               for k in c["checks"] if isinstance((k.get("figures") or {}).get("max_abs_error"), (int, float))}
    grouped: dict[str, list[dict[str, Any]]] = {}
    for runtime in doc.get("runtimes") or []:
        for o in runtime["outcomes"]:
            grouped.setdefault(f"{runtime['id']} {o['artifact']} {o['engine']}", []).append(o)
    return {
        "format": FORMAT, "version": VERSION, "generated": doc["generated"], "commit": commit,
        "matrix": doc.get("matrix"), "verdict": doc["verdict"]["word"], "exit_code": doc["verdict"]["exit_code"],
        "counts": {s: n for s, n in doc["counts"].items() if n},
        "rows": {**checks, **{row: _runtime_status(o) for row, o in grouped.items()}},
        "figures": figures,
        "versions": {**{c["id"]: (c.get("environment") or {}).get("torch") for c in doc["cells"]},
                     **{r["id"]: (r.get("environment") or {}).get("onnxruntime") for r in doc.get("runtimes") or []}},
        "keys": {c["id"]: (c.get("evidence") or {}).get("parts") or {} for c in doc["cells"]},
    }


def load(out_dir: Path) -> list[dict[str, Any]]:
    """Every readable record of ``out_dir/history``, oldest first (an unreadable file is skipped: it is memory,
    not evidence)."""
    records = []
    for path in sorted((Path(out_dir) / FOLDER).glob("*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and record.get("format") == FORMAT and isinstance(record.get("rows"), dict):
            records.append(record)
    return sorted(records, key=lambda r: str(r.get("generated")))


def append(out_dir: Path, record: dict[str, Any]) -> Path:
    folder = Path(out_dir) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    stamp = str(record["generated"]).replace(":", "").replace("-", "").replace("+", "Z")
    taken = len(list(folder.glob(f"{stamp}*.json")))
    path = folder / (f"{stamp}.json" if not taken else f"{stamp}-{taken}.json")
    atomic.write_json(path, record)
    return path


def same_run(recorded: dict[str, Any], current: dict[str, Any]) -> bool:
    """Whether a report rebuilt from the same records shows the run ``recorded`` again."""
    return all(recorded.get(k) == current.get(k) for k in ("rows", "keys", "versions", "verdict"))


def failing(status: str | None) -> bool:
    return status is not None and status not in GOOD and not status.endswith("(accepted)")


def change_word(before: str | None, now: str | None) -> str | None:
    if before is None or before == now:
        return None
    if failing(now) and not failing(before):
        return "new since the previous run"
    if failing(before) and not failing(now):
        return "fixed since the previous run"
    return "changed since the previous run"


def since(records: list[dict[str, Any]], row: str) -> int:
    """The index of the run from which ``row`` has had the newest record's status."""
    status = records[-1]["rows"].get(row)
    index = len(records) - 1
    while index > 0 and records[index - 1]["rows"].get(row) == status:
        index -= 1
    return index


def key_changes(records: list[dict[str, Any]], index: int, row: str) -> list[str]:
    """What the evidence key of ``row``'s cell changed between run ``index - 1`` and run ``index``."""
    if index == 0:
        return []
    words = row.split()
    cell = words[0] if len(words) == 2 else words[1].split("/")[0]  # "cell model.check" or "runtime cell/s/m engine"
    before, after = records[index - 1]["keys"].get(cell), records[index]["keys"].get(cell)
    reasons = EvidenceKey(after).changes(EvidenceKey(before)) if before and after else []
    if len(words) == 3:
        runtime = words[0]
        old, new = records[index - 1]["versions"].get(runtime), records[index]["versions"].get(runtime)
        reasons += [f"onnxruntime {old} -> {new}"] if old != new else []
    return reasons


def view(records: list[dict[str, Any]], last: int = STRIP) -> dict[str, Any]:
    """What the report shows: the last runs, and every row whose status moved in them or that fails now."""
    shown = records[-last:]
    rows = []
    names = sorted({row for record in shown for row in record["rows"]})
    for row in names:
        strip = [record["rows"].get(row) for record in shown]
        moved = len({s for s in strip if s is not None}) > 1
        # a refusal that has not moved is the answer matrix's to show (a runtime too old for an IR), not news
        if not moved and not (failing(strip[-1]) and strip[-1] != "incompatible"):
            continue
        start = since(records, row)
        rows.append({"row": row, "strip": strip, "change": change_word(strip[-2] if len(strip) > 1 else None,
                                                                        strip[-1]),
                     "since": records[start]["generated"], "since_run": start + 1,
                     "since_commit": records[start].get("commit"), "key_changes": key_changes(records, start, row)})
    rows.sort(key=lambda r: (r["change"] is None, r["row"]))
    return {"runs": [{k: r.get(k) for k in ("generated", "commit", "verdict", "counts")} for r in shown],
            "rows": rows}
