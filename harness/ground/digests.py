"""Files by content: a file's sha256, a folder's files with theirs, and which recorded files no longer match.
What the evidence keys, the kept artifacts and the golden manifest all rest on."""

from __future__ import annotations

from pathlib import Path

from converter.atomic import sha256_file


def file_digest(path: Path | None) -> str | None:
    """A file's sha256, or None when there is no such file."""
    return sha256_file(path) if path is not None and Path(path).is_file() else None


def files_digests(folder: Path) -> dict[str, str]:
    """Every regular file under ``folder`` (relative path -> sha256), caches left out."""
    folder = Path(folder)
    if not folder.is_dir():
        return {}
    return {str(p.relative_to(folder)): sha256_file(p) for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.is_symlink() and "__pycache__" not in p.parts}


def changed_files(recorded: dict[str, str], folder: Path) -> list[str]:
    """The recorded files (relative to ``folder``) that are missing or whose content changed, each named."""
    problems = []
    for name, digest in recorded.items():
        path = Path(folder) / name
        if not path.is_file():
            problems.append(f"{path} is missing")
        elif sha256_file(path) != digest:
            problems.append(f"{path} no longer matches its recorded sha256 {digest[:12]}")
    return problems
