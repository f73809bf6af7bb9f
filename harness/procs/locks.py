"""Locks on what a run writes, so two runs never share a report, venv or work folder, and a cell runner
left over from an earlier run is seen instead of racing a new one.

A lock is ``flock`` on ``<folder>/.alog-matrix.lock``: the kernel drops it when its holder dies, however
it dies, so a stale lock file never blocks a later run. The file says who holds it (pid, start, command),
which is what the refusal tells the user.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from converter.errors import AlogError

LOCK_NAME = ".alog-matrix.lock"


class Busy(AlogError):
    """Another process holds the lock (exit 2: no evidence can come of a run that would race it)."""


def _holder(lock_path: Path) -> str:
    try:
        info = json.loads(lock_path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return "another process"
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.get("started", 0)))
    return f"pid {info.get('pid', '?')}, started {started}: {info.get('command', '?')}"


@contextlib.contextmanager
def hold(folder: Path, what: str, name: str = LOCK_NAME) -> Iterator[Path]:
    """Hold ``folder``'s lock (the file ``name`` in it) for the block; ``Busy`` names the holder when another
    process has it."""
    folder.mkdir(parents=True, exist_ok=True)
    lock_path = folder / name
    with open(lock_path, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Busy(f"{what} {folder} is in use by another alog-matrix run ({_holder(lock_path)}); "
                       "wait for it to finish or stop it") from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "started": time.time(), "command": " ".join(sys.argv)}))
        handle.flush()
        try:
            yield lock_path
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def held_by_other(folder: Path, name: str = LOCK_NAME) -> str | None:
    """Who holds ``folder``'s lock, or None when nobody does (checked without keeping it)."""
    lock_path = folder / name
    if not lock_path.is_file():
        return None
    with open(lock_path, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return _holder(lock_path)
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None
