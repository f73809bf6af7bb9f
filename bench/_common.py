"""What the bench scripts that run `alog-matrix run` share: the child's command and environment, and the
statuses its report holds. Not a bench itself (the bench session runs bench_*.py only)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.envs.bytecode import bytecode_env  # noqa: E402


def matrix_run_command(*args: str) -> list[str]:
    """`alog-matrix run` in this interpreter: the project the bench session installed, not a PATH lookup."""
    return [sys.executable, "-m", "harness.cli", "run", *args]


def child_env() -> dict[str, str]:
    # CI=true: plain progress lines instead of a live display, as in the CI jobs the figures stand for
    return {**os.environ, **bytecode_env(), "CI": "true"}


def read_report(out: Path) -> dict:
    """<out>/matrix.json, or an empty report when the run wrote none."""
    path = out / "matrix.json"
    return json.loads(path.read_text()) if path.is_file() else {"cells": []}


def statuses(doc: dict) -> dict[str, str]:
    """Every check's and every runtime outcome's status, keyed by where it stands."""
    found = {f"{c['id']}/{k['model']}/{k['check']}": k["status"] for c in doc["cells"] for k in c["checks"]}
    found.update({f"{r['id']}/{o['artifact']}/{o['level']}/{o['engine']}": o["status"]
                  for r in doc.get("runtimes", []) for o in r["outcomes"]})
    return found
