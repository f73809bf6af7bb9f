"""Geometry of the report's parity chart: the worst max_abs_error per cell and model, log scale.

Only numbers come out of here; the SVG markup lives in the template (so it is autoescaped).
"""

from __future__ import annotations

import math
from typing import Any

MODEL_COLOURS = ("#0969da", "#1b998b", "#bf8700", "#8250df")
ZERO = 1e-12  # an exact match is drawn at this floor and labelled "0"
FIGURE = "max_abs_error"

LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 64
PLOT_HEIGHT = 200
BAR_WIDTH, BAR_GAP, GROUP_GAP = 20, 4, 44


def worst_error(cell: dict[str, Any], model: str) -> tuple[float, str] | None:
    """The largest max_abs_error any recorded check of this model reported, and which check it came from."""
    best: tuple[float, str] | None = None
    for check in cell["checks"]:
        value = (check.get("figures") or {}).get(FIGURE)
        if check["model"] != model or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if math.isfinite(value) and (best is None or value > best[0]):
            best = (float(value), check["check"])
    return best


def _tolerance(doc: dict[str, Any]) -> float | None:
    tol = doc.get("tolerance") or {}
    value = tol.get("atol")
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def parity_chart(doc: dict[str, Any]) -> dict[str, Any] | None:
    models = doc["models"]
    points = {
        (cell["id"], model): worst_error(cell, model) for cell in doc["cells"] for model in models
    }
    values = [max(p[0], ZERO) for p in points.values() if p]
    if not values:
        return None
    tolerance = _tolerance(doc)
    lo = math.floor(math.log10(min(values + ([tolerance] if tolerance else []))))
    hi = math.ceil(math.log10(max(values + ([tolerance] if tolerance else []))))
    lo, hi = min(lo, hi - 2), max(hi, lo + 1)  # at least two decades, so small spreads stay readable

    def y_of(value: float) -> float:
        return TOP + (hi - math.log10(max(value, ZERO))) / (hi - lo) * PLOT_HEIGHT

    group_width = len(models) * (BAR_WIDTH + BAR_GAP) - BAR_GAP
    bars, labels = [], []
    for i, cell in enumerate(doc["cells"]):
        x0 = LEFT + GROUP_GAP / 2 + i * (group_width + GROUP_GAP)
        labels.append({"x": x0 + group_width / 2, "text": cell["id"],
                       "empty": all(points[(cell["id"], m)] is None for m in models)})
        for j, model in enumerate(models):
            point = points[(cell["id"], model)]
            if point is None:
                continue
            value, check = point
            y = y_of(value)
            bars.append({
                "x": round(x0 + j * (BAR_WIDTH + BAR_GAP), 1), "y": round(y, 1), "width": BAR_WIDTH,
                "height": round(TOP + PLOT_HEIGHT - y, 1), "colour": MODEL_COLOURS[j % len(MODEL_COLOURS)],
                "label": "0" if value == 0 else f"{value:.0e}",
                "title": f"{cell['id']} {model}: worst {FIGURE} {value:.3g} (from {check})",
            })
    width = LEFT + len(doc["cells"]) * (group_width + GROUP_GAP) + RIGHT
    return {
        "width": round(width), "height": TOP + PLOT_HEIGHT + BOTTOM,
        "left": LEFT, "top": TOP, "bottom": TOP + PLOT_HEIGHT, "right": width - RIGHT,
        "ticks": [{"y": round(y_of(10.0 ** e), 1), "label": f"1e{e}"} for e in range(lo, hi + 1)],
        "bars": bars, "labels": labels,
        "legend": [{"model": m, "colour": MODEL_COLOURS[j % len(MODEL_COLOURS)]} for j, m in enumerate(models)],
        "tolerance": {"y": round(y_of(tolerance), 1), "label": f"atol {tolerance:.0e}"} if tolerance else None,
        "figure": FIGURE,
    }
