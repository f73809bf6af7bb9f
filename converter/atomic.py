"""Writing output files: a failure never leaves a half-written file, clobbers a good one or a device.

The rules, for every file the converter writes (``target``):

- a new path or an existing regular file: the content is written to a temporary file beside it and
  renamed over it only when the write succeeded. The published file's mode follows the umask.
- an existing file that is not a regular file (``/dev/null``, ``/dev/full``, a FIFO): written in
  place. The content is still produced in a temporary file first, then copied into the existing
  node, which is never removed or replaced (renaming over ``/dev/null`` turns it into a plain file).
- a directory: an error naming the path.
- a symlink: followed to what it points at (the link itself stays) and the rules above apply there.

Any file-system failure (read-only or full folder, no permission, a file where a folder should be)
is an ``AlogError`` naming the path: the user's environment, not a bug.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from converter.errors import AlogError


@contextlib.contextmanager
def _fs_errors(target: Path) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        reason = exc.strerror or (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise AlogError(f"cannot write {target}: {reason}") from None


def _destination(target: Path) -> tuple[Path, bool]:
    """(the path to publish at, whether to write in place); refuses a directory."""
    try:
        mode = os.stat(target).st_mode  # follows symlinks
    except FileNotFoundError:
        mode = None
    if mode is not None and stat.S_ISDIR(mode):
        raise AlogError(f"output path {target} is a directory")
    if mode is not None and not stat.S_ISREG(mode):
        return target, True
    # a new file or a regular one: renamed into place where a symlink points, so the link stays
    return Path(os.path.realpath(target)), False


def check_target(target: str | os.PathLike) -> None:
    """Refuse, before any work, a target that can never be written (a directory, a broken path)."""
    target = Path(target)
    with _fs_errors(target):
        _destination(target)


def _copy_into(source: Path, target: Path) -> None:
    """Write ``source``'s bytes into the existing non-regular file ``target`` (never created or truncated)."""
    fd = os.open(target, os.O_WRONLY | os.O_NOCTTY)
    with open(fd, "wb") as out, open(source, "rb") as data:
        shutil.copyfileobj(data, out)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; publish it at ``target`` by the rules above if the block succeeds."""
    target = Path(target)
    with _fs_errors(target):
        final, in_place = _destination(target)
        if in_place:  # the node's own folder (/dev) is no place for a temporary file
            folder = Path(tempfile.gettempdir())
        else:
            folder = final.parent
            folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=folder)
        os.close(fd)
    tmp_path = Path(tmp)
    try:
        with _fs_errors(target):
            os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; a published artifact follows the umask
            yield tmp_path
            if in_place:
                _copy_into(tmp_path, final)
            else:
                os.replace(tmp_path, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()


def publish(source: str | os.PathLike, target: str | os.PathLike) -> None:
    """Move the finished file ``source`` onto ``target`` by the same rules; ``source`` is gone afterwards."""
    source, target = Path(source), Path(target)
    try:
        with _fs_errors(target):
            final, in_place = _destination(target)
            if in_place:
                _copy_into(source, final)
                return
            try:
                os.replace(source, final)
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
                with atomic_path(final) as tmp:  # a symlink to another file system: copy, then rename there
                    shutil.copyfile(source, tmp)
    finally:
        with contextlib.suppress(FileNotFoundError):
            source.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(target: str | os.PathLike, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_text(target: str | os.PathLike, text: str) -> None:
    write_bytes(target, text.encode("utf-8"))


def write_json(target: str | os.PathLike, obj: Any) -> None:
    write_text(target, json.dumps(obj, indent=2, sort_keys=False, ensure_ascii=False) + "\n")


@contextlib.contextmanager
def publishing_folder(target: str | os.PathLike) -> Iterator[Path]:
    """A folder built beside ``target`` and renamed into place whole when the block ends without an error; a
    folder already at ``target`` is replaced (moved aside first, then removed), a failed build leaves nothing."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield work
        old = None
        if target.exists():
            old = target.parent / f".{target.name}.old-{os.getpid()}-{time.monotonic_ns()}"
            os.replace(target, old)
        os.replace(work, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)


def sha256_file(path: Path) -> str:
    """The file's SHA-256, read in chunks (checkpoints and weights can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
