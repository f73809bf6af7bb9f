"""Reuse only on equal keys: whether an earlier record is evidence about what is in front of the run now.

A record is reused when it finished, carries the key computed now, and every file it kept is still the one it
recorded; otherwise it is run again, and the reason says which part moved (``EvidenceKey.changes``) or which
file changed. Whatever was decided is recorded beside the evidence (``Decision.to_dict``) for the progress
line, the report's cell header and matrix.json.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.evidence.keys import EvidenceKey
from harness.ground.digests import changed_files
from harness.ground.protocol import now
from harness.ground.records import CellResult, RuntimeResult

FRESH = "ran (no --resume)"


def when(started: str | None) -> str:
    """"2026-12-07 05:40" of a record's ISO start time (UTC)."""
    return (started or "unknown time")[:16].replace("T", " ")


@dataclass
class Decision:
    reused: bool
    reason: str  # "reused (run 2026-12-07 05:40)" or "rerun: pins changed (onnxruntime 1.21.1 -> 1.22.1)"
    record: CellResult | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"reused": self.reused, "reason": self.reason, "decided": now()}


def cell_decision(path: Path, key: EvidenceKey, keep_dir: Path) -> Decision:
    """Whether the cell record at ``path`` (its kept files under ``keep_dir``) is evidence about ``key``."""
    if not path.is_file():
        return Decision(False, "run: no earlier result")
    try:
        record = CellResult.read(path)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        return Decision(False, f"rerun: the earlier result cannot be read ({type(exc).__name__})")
    if record.status != "complete":
        return Decision(False, f"rerun: the earlier run ended in {record.status}")
    changes = key.changes(EvidenceKey.from_dict(record.evidence))
    if changes:
        return Decision(False, "rerun: " + "; ".join(changes))
    broken = changed_files(record.kept, keep_dir)
    if broken:
        more = f" (and {len(broken) - 1} more)" if len(broken) > 1 else ""
        return Decision(False, f"rerun: kept file {broken[0]}{more}")
    return Decision(True, f"reused (run {when(record.started)})", record)


@dataclass
class RuntimePlan:
    """Which artifacts' outcomes of one runtime are reused and which are run, and why."""

    kept: RuntimeResult | None  # the earlier result whose outcomes are reused
    reused: list[str]  # artifact keys
    rerun: dict[str, str]  # artifact key -> why it runs

    @property
    def runs(self) -> bool:
        return self.kept is None or bool(self.rerun)

    def decision(self) -> dict[str, Any]:
        return {"reused": len(self.reused), "rerun": len(self.rerun), "reasons": dict(self.rerun),
                "run": self.kept.started if self.kept is not None and self.reused else None, "decided": now()}

    def summary(self) -> str:
        said = f"{len(self.reused)} artifact(s) reused, {len(self.rerun)} run"
        first = next(iter(self.rerun.items()), None)
        return said + (f" ({first[0]}: {first[1]})" if first else "")


def runtime_plan(out: Path, keys: dict[str, EvidenceKey], resume: bool) -> RuntimePlan:
    """Reuse the outcomes of each artifact whose key equals the one the earlier result at ``out`` recorded."""
    if not resume:
        return RuntimePlan(None, [], {k: FRESH for k in keys})
    try:
        old = RuntimeResult.read(out)
    except FileNotFoundError:
        return RuntimePlan(None, [], {k: "run: no earlier result" for k in keys})
    except (OSError, ValueError, TypeError, KeyError) as exc:
        return RuntimePlan(None, [], {k: f"rerun: the earlier result cannot be read ({type(exc).__name__})"
                                      for k in keys})
    if old.status != "complete":
        return RuntimePlan(None, [], {k: f"rerun: the earlier run ended in {old.status}" for k in keys})
    measured = {o.artifact for o in old.outcomes}
    reused, rerun = [], {}
    for artifact, key in keys.items():
        changes = key.changes(EvidenceKey.from_dict(old.evidence.get(artifact)))
        if artifact not in measured:
            rerun[artifact] = "run: not measured before"
        elif changes:
            rerun[artifact] = "rerun: " + "; ".join(changes)
        else:
            reused.append(artifact)
    return RuntimePlan(old, reused, rerun)
