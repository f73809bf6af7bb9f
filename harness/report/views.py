"""What the HTML report lays out, computed from the report document: the cell grid, each cell's column
header (its companions and the exporter ``auto`` chose per model), and the drift view (each cell's torch
and artifacts against the golden outputs). Numbers and words only; the markup is in the template."""

from __future__ import annotations

from typing import Any

from harness.report.model import worst

COMPANIONS = ("onnxscript", "onnxruntime", "numpy")
STRATEGY_ORDER = ("legacy", "dynamo", "auto")
# Why ``auto`` fell back to TorchScript, in one word, from its dynamo attempt's outcome.
FALLBACK_WHY = {"no_keyword": "no keyword", "exception": "exception", "frozen_axes": "frozen axes",
                "parity_failed": "parity", "wrong_inputs": "renamed inputs"}


def grid(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of the overview: per model, per check, one slot per cell (None where nothing was recorded)."""
    index = {(cell["id"], c["model"], c["check"]): c for cell in doc["cells"] for c in cell["checks"]}
    groups = []
    for model in doc["models"]:
        rows = []
        for check in doc["checks"]:
            slots = [index.get((cell["id"], model, check)) for cell in doc["cells"]]
            if any(slots):
                rows.append({"check": check, "slots": list(zip(doc["cells"], slots, strict=True))})
        groups.append({"model": model, "rows": rows})
    return groups


def worst_per_model(cell: dict[str, Any], model: str) -> str | None:
    return worst(c["status"] for c in cell["checks"] if c["model"] == model)


def auto_choice(check: dict[str, Any] | None) -> str | None:
    """The exporter auto_export produced the artifact with, and why in one word when it fell back."""
    if not check or not (check.get("detail") or {}).get("exporter"):
        return None
    detail = check["detail"]
    if detail["exporter"] == "dynamo":
        return "dynamo"
    dynamo = next((a for a in detail.get("attempts") or [] if a.get("exporter") == "dynamo"), None)
    why = "no keyword" if dynamo is None else FALLBACK_WHY.get(dynamo.get("outcome"), dynamo.get("outcome"))
    return f"TorchScript ({why})"


def column_header(cell: dict[str, Any], models: list[str]) -> dict[str, Any]:
    """A cell's grid header: its companions as installed, and auto's choice per model."""
    environment = cell.get("environment") or {}
    companions = [f"{name} {environment[name]}" for name in COMPANIONS if environment.get(name)]
    by_model = {c["model"]: c for c in cell["checks"] if c["check"] == "auto_export"}
    choices = [(model, auto_choice(by_model.get(model))) for model in models]
    return {"companions": companions, "auto": [(m, choice) for m, choice in choices if choice]}


def drift_view(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Per model: a row per cell with this torch's and each artifact's max abs error against the golden
    outputs, and the status of the check the figure came from."""
    views = []
    for model in doc["models"]:
        strategies: list[str] = []
        rows = []
        for cell in doc["cells"]:
            checks = {c["check"]: c for c in cell["checks"] if c["model"] == model}
            drift, parity = checks.get("torch_drift"), checks.get("golden_parity")
            artifacts = ((parity or {}).get("detail") or {}).get("artifacts") or {}
            for strategy in artifacts:
                if strategy not in strategies:
                    strategies.append(strategy)
            rows.append({
                "cell": cell,
                "torch": _figure(drift, "max_abs_error"),
                "artifacts": {s: {"value": (a.get("vs_golden") or {}).get("max_abs_error"),
                                  "status": "fail" if (a.get("vs_golden") or {}).get("failed") else "pass",
                                  "diagnosis": a.get("diagnosis")} for s, a in artifacts.items()},
                "parity_status": parity["status"] if parity else None,
            })
        if any(r["torch"]["status"] or r["artifacts"] for r in rows):
            order = [s for s in STRATEGY_ORDER if s in strategies] + [s for s in strategies if s not in STRATEGY_ORDER]
            views.append({"model": model, "strategies": order, "rows": rows})
    return views


def _figure(check: dict[str, Any] | None, name: str) -> dict[str, Any]:
    if not check:
        return {"value": None, "status": None}
    return {"value": (check.get("figures") or {}).get(name), "status": check["status"]}
