"""Evidence keys: what a record is evidence about, as named parts with one digest over them.

A cell result's key names the cell's table (without its expectations), [data], every model entry, the golden
data, [tolerance], [warnings], the installed alog-detect code and the venv's packages; a runtime outcome's
key names the artifact and its golden cases, the runtime's table, its venv's packages, the C engine and the
code. A record is reused only when the key computed now equals the one it carries; when it does not,
``changes`` says which parts moved, from what to what, in one line each.
"""

from __future__ import annotations

import hashlib
import json
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# What each part is called when it changed, as a rerun's reason reads it.
LABELS = {"cell": "cell table", "runtime": "runtime table", "artifact": "artifact", "data": "[data]",
          "models": "model entries", "golden": "golden data", "tolerance": "[tolerance]",
          "warnings": "[warnings] allow-list", "source": "code", "packages": "packages", "engine": "C engine"}
SHORT = 12  # hex digits of a digest shown in a reason


def digest_of(value: Any) -> str:
    """sha256 of a JSON-ready value, its keys sorted: equal values give equal digests, whatever their order."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def packages_in(site_packages: Path) -> dict[str, str]:
    """The installed distributions (normalized name -> version), read from the ``*.dist-info`` folder names as
    the installer wrote them: the same answer inside the venv and from outside it, in milliseconds."""
    found = {}
    for info in Path(site_packages).glob("*.dist-info"):
        name, _, version = info.name.removesuffix(".dist-info").rpartition("-")
        if name:
            found[name.lower().replace("_", "-").replace(".", "-")] = version
    return dict(sorted(found.items()))


def own_packages() -> dict[str, str]:
    """This interpreter's packages (a cell records its own venv's)."""
    return packages_in(Path(sysconfig.get_paths()["purelib"]))


@dataclass(frozen=True)
class EvidenceKey:
    parts: dict[str, Any]

    @property
    def digest(self) -> str:
        return digest_of(self.parts)

    def to_dict(self) -> dict[str, Any]:
        return {"digest": self.digest, "parts": self.parts}

    @classmethod
    def from_dict(cls, data: Any) -> EvidenceKey | None:
        """A recorded key, or None for a record that carries none (or a damaged one)."""
        if not isinstance(data, dict) or not isinstance(data.get("parts"), dict):
            return None
        key = cls(data["parts"])
        return key if data.get("digest") == key.digest else None

    def changes(self, old: EvidenceKey | None) -> list[str]:
        """Why a record keyed ``old`` is not evidence about this key: one reason per part that moved."""
        if old is None:
            return ["the record carries no evidence key"]
        reasons = []
        for part in sorted(set(self.parts) | set(old.parts), key=_part_order):
            if part in self.parts and part in old.parts and self.parts[part] == old.parts[part]:
                continue
            reasons.append(_reason(part, old.parts.get(part), self.parts.get(part)))
        return reasons


def _part_order(part: str) -> int:
    return list(LABELS).index(part) if part in LABELS else len(LABELS)


def _reason(part: str, old: Any, new: Any) -> str:
    label = LABELS.get(part, part)
    if part == "source":
        return "code changed"
    if part == "cell":
        pins = _leaf_changes({"torch": (old or {}).get("torch"), **((old or {}).get("pins") or {})},
                             {"torch": (new or {}).get("torch"), **((new or {}).get("pins") or {})})
        if pins:
            return f"pins changed ({pins})"
    if part == "golden" and isinstance(new, dict) and new.get("manifest") is None:
        return "golden data missing"
    if part == "golden" and isinstance(old, dict) and isinstance(new, dict) \
            and old.get("checkpoints") != new.get("checkpoints"):
        return f"golden checkpoint changed ({_leaf_changes(old.get('checkpoints'), new.get('checkpoints'))})"
    detail = _leaf_changes(old, new)
    return f"{label} changed ({detail})" if detail else f"{label} changed"


def _leaves(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(_leaves(inner, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def _shown(value: Any) -> str:
    if value is None:
        return "none"
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if len(text) == 64 and all(c in "0123456789abcdef" for c in text):
        return text[:SHORT]  # a digest: its head tells two apart
    return text if len(text) <= 60 else text[:57] + "..."


def _leaf_changes(old: Any, new: Any, most: int = 3) -> str:
    """"a 1 -> 2, b none -> 3": the leaves that differ, at most ``most`` of them named."""
    before, after = _leaves(old), _leaves(new)
    moved = [k for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)]
    said = [f"{k + ' ' if k else ''}{_shown(before.get(k))} -> {_shown(after.get(k))}" for k in moved[:most]]
    return ", ".join(said) + (f" and {len(moved) - most} more" if len(moved) > most else "")
