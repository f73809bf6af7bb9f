"""The deployment answer matrix: "the artifact of torch X, exported with strategy S, on runtime Y: yes or no,
and why", derived in one place from the report document's outcomes (``answers`` of matrix.json).

Rows are cell x strategy x model in version order (``auto`` first), a row with no artifact included with
the reason its export check gives; columns are the runtimes in version order. Each slot holds one answer
for ONNX Runtime's Python API and one for the C engine, over every optimization level the runtime ran.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from harness.ground.names import ENGINES
from harness.report import order

# An answer's state: its symbol and what it means. Checked worst first (see _state).
SYMBOLS = {"agrees": "✔", "wrong": "✘", "refused": "⊘", "unavailable": "–", "error": "!", "unknown": "?",
           "none": "∅"}
MEANING = {
    "agrees": "loads and agrees with the golden outputs at every level",
    "wrong": "loads, but gives wrong numbers",
    "refused": "refused: the runtime cannot load it (IR version, opset or operator too new)",
    "unavailable": "the engine is not available for this runtime",
    "error": "error or crash while running it",
    "unknown": "no evidence: no outcome recorded",
    "none": "no artifact: the export produced nothing to deploy",
}
LEGEND = {"agrees": "agrees at every level", "wrong": "wrong numbers", "refused": "refused: IR or opset too new",
          "unavailable": "engine not available for this runtime", "error": "error or crash", "unknown": "no evidence",
          "none": "no artifact"}
ENGINE_TITLES = {"python": "Python", "c": "C engine"}
SUMMARY_WORDS = {"agrees": "take", "wrong": "wrong", "refused": "refused", "unavailable": "not available",
                 "error": "error", "unknown": "no evidence"}
NOTE_LIMIT = 400  # characters of a message kept in a footnote or a tooltip

_IR = re.compile(r"IR version:?\s*(\d+),\s*max supported IR version:?\s*(\d+)", re.IGNORECASE)
_OPSET = re.compile(r"opset (\d+) is under development.*?till opset (\d+)", re.IGNORECASE | re.DOTALL)
_C_API = re.compile(r"C API (\d+)")
_ORT_PREFIX = re.compile(r"^\[ONNXRuntimeError\]\s*:\s*\d+\s*:\s*\w+\s*:\s*")
# ORT's "/onnxruntime_src/.../model.cc:149 onnxruntime::Model::Model(...) " before what it has to say
_SOURCE_PLACE = re.compile(r"/?[\w./-]+\.(?:cc|cpp|h):\d+ [\w:~<>]+\(.*?\)\s")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s")


def clip(text: Any, limit: int = NOTE_LIMIT) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def first_sentence(text: Any, limit: int = 90) -> str:
    lines = [line.strip() for line in str(text or "").splitlines() if line.strip()]
    return clip(_SENTENCE_END.split(lines[0], maxsplit=1)[0], limit) if lines else ""


def tidy(error: str) -> str:
    """A runtime's message without ONNX Runtime's error-code prefix and C++ source place."""
    return _SOURCE_PLACE.sub(" ", _ORT_PREFIX.sub("", error.strip())).strip()


def short_reason(state: str, outcome: dict[str, Any]) -> str:
    """A few words for the summary line and the footnote's head: "IR 10 > 9", "C API 21 needed"."""
    error = outcome.get("error") or ""
    if state == "refused":
        if match := _IR.search(error):
            return f"IR {match[1]} > {match[2]}"
        if match := _OPSET.search(error):
            return f"opset {match[1]} > {match[2]}"
    if state == "unavailable" and (match := _C_API.search(f"{outcome.get('reason') or ''} {error}")):
        return f"C API {match[1]} needed"
    if state == "wrong" and isinstance((outcome.get("figures") or {}).get("max_abs_error"), (int, float)):
        return f"max abs error {outcome['figures']['max_abs_error']:.2g}"
    return first_sentence(tidy(error) or outcome.get("reason") or outcome.get("status"), 60)


def _state(engine: str, outcomes: list[dict[str, Any]], levels: list[str]) -> tuple[str, dict[str, Any] | None]:
    """(state, the outcome that decided it): the worst outcome over the levels wins."""
    by_status: dict[str, dict[str, Any]] = {}
    for o in outcomes:
        by_status.setdefault(o["status"], o)
    for status, state in (("crash", "error"), ("error", "error"), ("fail", "wrong")):
        if status in by_status:
            return state, by_status[status]
    if "incompatible" in by_status:
        o = by_status["incompatible"]
        # The C engine reports a model ONNX Runtime refused as "cannot load model"; any other incompatible is
        # the engine itself unable to use this runtime's library (too old for its C API, or none shipped).
        model_refused = engine == "python" or "cannot load model" in (o.get("error") or "")
        return ("refused" if model_refused else "unavailable"), o
    if not outcomes or {o["level"] for o in outcomes} < set(levels):
        return "unknown", None
    return "agrees", None


def engine_answer(engine: str, outcomes: list[dict[str, Any]], runtime: dict[str, Any]) -> dict[str, Any]:
    """One engine's answer for one artifact on one runtime."""
    state, decisive = _state(engine, outcomes, runtime.get("levels") or [])
    bad = [o for o in outcomes if o["status"] != "pass"]
    answer: dict[str, Any] = {"state": state, "symbol": SYMBOLS[state], "accepted": bool(bad) and all(
        o["accepted"] for o in bad), "short": None, "reason": None, "expectation": None, "note": None}
    if decisive is not None:
        answer["short"] = short_reason(state, decisive)
        answer["reason"] = clip(tidy(decisive.get("error") or "") or decisive["status"])
        answer["expectation"] = decisive.get("reason") if answer["accepted"] else None
    elif state == "unknown":
        why = runtime.get("problem") or f"no outcome at every level {runtime['id']} ran"
        answer["short"], answer["reason"] = "no evidence", clip(why)
    return answer


def _no_artifact_reason(cell: dict[str, Any] | None, strategy: str, model: str) -> tuple[str | None, str]:
    """(status of the strategy's export check, why the row has no artifact), from the cell's export checks."""
    check = next((c for c in (cell or {}).get("checks") or [] if c["model"] == model
                  and c["check"] == f"{strategy}_export"), None)
    if check is None:
        return None, "no export check recorded"
    if check["status"] in ("pass", "xpass"):
        return check["status"], "exported, but no artifact was kept for the runtimes"
    text = check.get("error") or check.get("root_cause") or check.get("reason") or check["status"]
    return check["status"], f"{check['status']}: {text}"


def _row_keys(doc: dict[str, Any], artifacts: set[str]) -> list[tuple[str, str, str]]:
    """Every (cell, strategy, model) with an artifact, or with an export check that ran (a skipped one means
    the matrix does not ask for that strategy)."""
    keys = {order.split_key(k) for k in artifacts}
    for cell in doc.get("cells") or []:
        for check in cell.get("checks") or []:
            strategy = check["check"].removesuffix("_export")
            if strategy in order.STRATEGY_ORDER and check["status"] != "skip":
                keys.add((cell["id"], strategy, check["model"]))
    ordered = order.artifact_order(("/".join(k) for k in keys), [c["id"] for c in doc.get("cells") or []],
                                   doc.get("models") or [])
    return [order.split_key(k) for k in ordered]


class _Notes:
    """Footnotes, one per distinct (state, short reason, accepted): where each occurs and one full message."""

    def __init__(self) -> None:
        self.notes: list[dict[str, Any]] = []
        self._index: dict[tuple[Any, ...], dict[str, Any]] = {}

    def add(self, state: str, short: str, accepted: bool, reason: str, expectation: str | None, where: str) -> int:
        key = (state, short, accepted, expectation)
        note = self._index.get(key)
        if note is None:
            note = {"number": len(self.notes) + 1, "state": state, "symbol": SYMBOLS[state], "short": short,
                    "accepted": accepted, "expectation": expectation, "reason": reason, "where": {}}
            self._index[key] = note
            self.notes.append(note)
        note["where"][where] = note["where"].get(where, 0) + 1
        return note["number"]

    def done(self) -> list[dict[str, Any]]:
        return [{**n, "where": [{"place": p, "count": c} for p, c in n["where"].items()]} for n in self.notes]


def title(label: str, runtime_id: str, engine: str, answer: dict[str, Any]) -> str:
    """The tooltip of one symbol: what it answers, and why."""
    text = f"{label} on {runtime_id}, {ENGINE_TITLES[engine]}: {MEANING[answer['state']]}"
    if answer["short"]:
        text += f" — {answer['short']}"
    if answer["accepted"]:
        text += f" (accepted: {answer['expectation'] or 'matrix.toml expects it'})"
    return text + (f". {answer['reason']}" if answer["reason"] else "")


def summary_line(runtime: dict[str, Any], rows: list[dict[str, Any]]) -> tuple[str, dict[str, dict[str, int]]]:
    """One line per runtime: per engine, how many artifacts it takes and why it does not take the rest."""
    parts, counts = [], {}
    for engine in ENGINES:
        answers = [r["answers"][runtime["id"]][engine] for r in rows if r["artifact"]]
        tally = Counter(a["state"] for a in answers)
        counts[engine] = dict(tally)
        shorts = list(dict.fromkeys(a["short"] for a in answers if a["state"] != "agrees" and a["short"]))
        title = ENGINE_TITLES[engine]
        if not answers:
            parts.append(f"{title}: no artifacts")
        elif set(tally) == {"unavailable"}:
            parts.append(f"{title}: not available" + (f", {', '.join(shorts)}" if shorts else ""))
        else:
            said = ", ".join(f"{tally[s]} {SUMMARY_WORDS[s]}" for s in SUMMARY_WORDS if tally.get(s))
            parts.append(f"{title}: {said}" + (f" — {', '.join(shorts)}" if shorts else ""))
    return "; ".join(parts), counts


def answer_matrix(doc: dict[str, Any]) -> dict[str, Any]:
    """The answer matrix of a report document: its runtimes (with a summary line each), its rows and the
    footnotes their symbols point to. Reads only ``cells``, ``models``, ``artifacts`` and ``runtimes``."""
    runtimes = sorted(doc.get("runtimes") or [], key=order.runtime_key)
    described = {a["key"]: a for a in doc.get("artifacts") or []}
    outcomes: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for runtime in runtimes:
        for o in runtime["outcomes"]:
            outcomes.setdefault((runtime["id"], o["artifact"], o["engine"]), []).append(o)
    artifacts = set(described) | {key for _, key, _ in outcomes}
    cells = {c["id"]: c for c in doc.get("cells") or []}
    notes = _Notes()
    rows = []
    for cell_id, strategy, model in _row_keys(doc, artifacts):
        key = f"{cell_id}/{strategy}/{model}"
        label = f"{cell_id} {strategy} {model}"
        row: dict[str, Any] = {"label": label, "cell": cell_id, "torch": (cells.get(cell_id) or {}).get("torch"),
                               "strategy": strategy, "model": model, "artifact": key if key in artifacts else None,
                               "ir_version": None, "opset": None, "reason": None, "short": None, "accepted": False,
                               "note": None, "answers": {}}
        if row["artifact"] is None:
            status, reason = _no_artifact_reason(cells.get(cell_id), strategy, model)
            row["reason"] = clip(reason)
            short = first_sentence(reason.split(": ", 1)[-1]) if status else reason
            row["short"], row["accepted"] = short, status == "xfail"  # an export failure the matrix expects
            row["note"] = notes.add("none", short, row["accepted"], row["reason"], None, label)
            rows.append(row)
            continue
        row["ir_version"] = described.get(key, {}).get("ir_version")
        row["opset"] = (described.get(key, {}).get("opsets") or {}).get("ai.onnx")
        for runtime in runtimes:
            slot = {}
            for engine in ENGINES:
                answer = engine_answer(engine, outcomes.get((runtime["id"], key, engine), []), runtime)
                if answer["state"] != "agrees":
                    answer["note"] = notes.add(answer["state"], answer["short"], answer["accepted"], answer["reason"],
                                               answer["expectation"], f"{runtime['id']} {ENGINE_TITLES[engine]}")
                slot[engine] = answer
            row["answers"][runtime["id"]] = slot
        rows.append(row)
    columns = []
    for runtime in runtimes:
        line, counts = summary_line(runtime, rows)
        columns.append({"id": runtime["id"], "onnxruntime": runtime.get("onnxruntime"), "deploy": runtime.get("deploy"),
                        "state": runtime.get("state"), "line": line, "counts": counts})
    return {"runtimes": columns, "rows": rows, "notes": notes.done()}
