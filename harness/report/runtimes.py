"""The runtime part of the report: what the runtime stage found, as report data (``runtimes`` and
``artifacts`` of matrix.json), the deploy rule of the gate, and the grid the HTML shows (the answer matrix
that sums it up is harness/report/answers.py).

A deploy runtime ([gate] deploy) is one the release must work on: an artifact of the ``auto`` strategy it
refuses or gets wrong fails the gate unless a [[runtime.expect]] accepts that outcome. Every other runtime
and strategy is evidence only.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.config.matrix import Matrix, Runtime
from harness.ground.names import ENGINES
from harness.ground.records import RuntimeOutcome, RuntimeResult
from harness.report import order

GATED_STRATEGY = "auto"  # what a user gets from convert-onnx by default
ARTIFACTS_FILE = "artifacts.json"  # the runtime stage's description of the kept artifacts
# The parts of an outcome's evidence key a report checks against what is in front of it (the rest needs the
# runtime's venv): the artifact and its cases, the tolerance it was judged with, the runtime's table.
CHECKED_PARTS = ("artifact", "tolerance", "runtime")


def runtime_documents(out_dir: Path, matrix: Matrix | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]],
                                                                        str | None]:
    """(runtimes, artifacts, problem): one entry per matrix runtime (``missing`` when it left no result file), the
    kept artifacts as the runtime stage described them, and why that description cannot be read, if it cannot."""
    folder = Path(out_dir) / "runtimes"
    artifacts, problem = _described(folder / ARTIFACTS_FILE)
    runtimes = []
    for runtime in matrix.runtimes if matrix else ():
        path = folder / f"{runtime.id}.json"
        entry: dict[str, Any] = {"id": runtime.id, "onnxruntime": runtime.onnxruntime, "levels": list(runtime.levels),
                                 "deploy": runtime.id in matrix.deploy, "source": str(path)}  # type: ignore[union-attr]
        try:
            result = RuntimeResult.read(path)
        except FileNotFoundError:
            runtimes.append({**entry, "state": "missing", "problem": f"no result file for runtime {runtime.id}",
                             "outcomes": [], "environment": {}, "stages": {}, "output_tail": None})
            continue
        except (OSError, ValueError, TypeError, KeyError) as exc:
            runtimes.append({**entry, "state": "unreadable", "problem": f"{path} is not a runtime result: {exc}",
                             "outcomes": [], "environment": {}, "stages": {}, "output_tail": None})
            continue
        outcomes = [rejudge(o, runtime) for o in result.outcomes if judged(o.artifact, matrix)]  # type: ignore[arg-type]
        runtimes.append({**entry, "state": result.status, "problem": None,
                         "outcomes": [{**o.to_dict(), "accepted": o.accepted} for o in outcomes],
                         "environment": result.environment, "stages": result.stages,
                         "output_tail": result.output_tail, "evidence": result.decision or None,
                         "keys": {artifact: {part: (key.get("parts") or {}).get(part) for part in CHECKED_PARTS}
                                  for artifact, key in (result.evidence or {}).items()
                                  if judged(artifact, matrix)}})  # type: ignore[arg-type]
    runtimes.sort(key=order.runtime_key)  # version order for every view, whatever order matrix.toml lists them in
    return runtimes, artifacts, problem


def judged(artifact: str, matrix: Matrix) -> bool:
    """An artifact ("cell/strategy/model") of a cell and a model matrix.toml has: the others are not judged."""
    cell, _, model = artifact.split("/")
    return matrix.judges(cell, model)


def rejudge(outcome: RuntimeOutcome, runtime: Runtime) -> RuntimeOutcome:
    """An outcome judged against today's [[runtime.expect]]: what it measured stays, what is accepted is now's."""
    cell, strategy, model = outcome.artifact.split("/")
    expectation = runtime.expected(cell, strategy, model, outcome.level, outcome.engine)
    return replace(outcome, expected=expectation.outcome if expectation else "pass",
                   reason=expectation.reason if expectation else None)


def _described(path: Path) -> tuple[list[dict[str, Any]], str | None]:
    """runtimes/artifacts.json, or why it cannot be read (absent, truncated, not a list of described artifacts)."""
    if not path.is_file():
        return [], f"{path} is missing: the runtime results cannot be matched with the kept artifacts"
    try:
        described = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(described, list) or not all(isinstance(a, dict) and "key" in a for a in described):
            raise ValueError("not a list of described artifacts")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return [], f"{path} cannot be read ({exc})"
    return described, None


def kept_evidence(out_dir: Path, cells: list[dict[str, Any]], runtimes: list[dict[str, Any]],
                  artifacts: list[dict[str, Any]], problem: str | None) -> list[str]:
    """The kept files the runtime evidence rests on that are missing or unreadable, each named: no evidence.
    Asked once a runtime left a result (before the runtime stage there is nothing to match): the description
    of the kept artifacts must be readable, every artifact in it readable, and every artifact a cell kept (its
    golden_parity record names the strategies) described."""
    if all(r["state"] == "missing" for r in runtimes):
        return []
    if problem:
        return [problem]
    problems = [a["unreadable"] for a in artifacts if a.get("unreadable")]
    described = {a["key"] for a in artifacts}
    for cell in cells:
        for check in cell["checks"]:
            if check["check"] != "golden_parity" or not check.get("recorded", True):
                continue
            for strategy in (check.get("detail") or {}).get("artifacts") or {}:
                if f"{cell['id']}/{strategy}/{check['model']}" in described:
                    continue
                onnx = Path(out_dir) / "artifacts" / cell["id"] / strategy / f"{check['model']}.onnx"
                cases = onnx.with_name(f"{check['model']}.golden.npz")
                lost = onnx if not onnx.is_file() else cases if not cases.is_file() else None
                why = f"{lost} is missing" if lost else f"{onnx} was not in the runtime stage's {ARTIFACTS_FILE}"
                problems.append(f"{why}: cell {cell['id']} kept it (golden_parity), no runtime ran it")
    return problems


def deploy_verdict(doc: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(failures, problems) of the deploy runtimes: what the release must work on."""
    failures: list[str] = []
    problems: list[str] = []
    for runtime in doc.get("runtimes") or []:
        if not runtime["deploy"]:
            continue
        if runtime["state"] in ("missing", "unreadable", "error", "interrupted"):
            why = runtime.get("problem") or runtime.get("output_tail") or runtime["state"]
            problems.append(f"ERROR runtime {runtime['id']}: {why}")
            continue
        if runtime["state"] in ("crash", "timeout"):
            failures.append(f"{runtime['state'].upper()} runtime {runtime['id']}: the runner did not finish")
        gated = [o for o in runtime["outcomes"] if o["artifact"].split("/")[1] == GATED_STRATEGY]
        if not gated and runtime["state"] == "complete":
            problems.append(f"ERROR runtime {runtime['id']}: no {GATED_STRATEGY} artifact was run: no deploy evidence")
        for o in gated:
            if not o["accepted"]:
                why = (o.get("error") or "").strip().splitlines()[-1:] or [o["status"]]
                failures.append(f"DEPLOY {runtime['id']} {o['artifact']} at {o['level']} ({o['engine']}): "
                                f"{o['status']}: {why[0][:300]}")
    return failures, problems


def deploy_line(doc: dict[str, Any]) -> str:
    """The deploy runtimes and their outcomes on auto artifacts, for the verdict line."""
    parts = []
    for runtime in doc.get("runtimes") or []:
        if runtime["deploy"]:
            gated = [o for o in runtime["outcomes"] if o["artifact"].split("/")[1] == GATED_STRATEGY]
            good = sum(1 for o in gated if o["accepted"])
            parts.append(f"{runtime['id']} {good}/{len(gated)} auto outcomes as wanted")
    return "; deploy " + ", ".join(parts) if parts else ""


def grid(doc: dict[str, Any]) -> dict[str, Any]:
    """Rows the artifacts (with opset and IR), columns the runtimes; each slot the outcome per level and
    engine, and the latency at level "all"."""
    described = {a["key"]: a for a in doc.get("artifacts") or []}
    runtimes = doc.get("runtimes") or []
    index = {(r["id"], o["artifact"], o["level"], o["engine"]): o for r in runtimes for o in r["outcomes"]}
    keys = order.artifact_order({o["artifact"] for r in runtimes for o in r["outcomes"]} | set(described),
                                [c["id"] for c in doc.get("cells") or []], doc.get("models") or [])
    rows = []
    for key in keys:
        slots = []
        for runtime in runtimes:
            levels = [{"level": level, **{e: index.get((runtime["id"], key, level, e)) for e in ENGINES}}
                      for level in runtime["levels"]]
            timed = index.get((runtime["id"], key, "all", "python"))
            slots.append({"runtime": runtime, "levels": levels, "latency": (timed or {}).get("latency") or {}})
        rows.append({"key": key, "artifact": described.get(key, {}), "slots": slots})
    return {"runtimes": runtimes, "rows": rows, "findings": findings(runtimes)}


def findings(runtimes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every outcome that loaded but did not agree (fail, error, crash), with its message, figures and the
    localizer's first divergence: what the grid's colours alone cannot say."""
    return [{"runtime": r["id"], **o} for r in runtimes for o in r["outcomes"]
            if o["status"] in ("fail", "error", "crash")]
