"""A conversion's output folder: one conversion at a time, and a set of files replaced whole or not at all.

- ``hold``: ``flock`` on ``<folder>/.alog-detect.lock``; a second conversion into the folder is refused
  with one line naming the holder (pid, host, start). The kernel drops the lock when its holder dies,
  however it dies; the file is removed when the holder is done.
- ``staged``: pending names unique to this run (``.deeplog.onnx.<pid>-<hex>.pending``); pending files of a
  run that was killed are removed, under the lock, before this run writes its own.
- ``publish``: moves the pending files over the targets with SIGINT/SIGTERM/SIGHUP held back until the
  last one is in place, and puts the previous files back if a move fails, so the model, its meta and
  the vocab always come from one conversion (SIGKILL or a power cut during the moves excepted).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import secrets
import signal
import socket
import stat
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from converter import atomic
from converter.errors import AlogError

LOCK_NAME = ".alog-detect.lock"
# Test-only pause points, as the harness's ALOG_MATRIX_TEST_FAULT: ALOG_DETECT_TEST_PAUSE="<stage>:<folder>"
# makes a conversion write <folder>/<stage>.reached (its pid) at <stage> and wait until <folder>/<stage>.go
# exists, so tests can race or interrupt two real conversions deterministically. Nothing else sets it.
TEST_PAUSE_ENV = "ALOG_DETECT_TEST_PAUSE"
_DEFERRED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def test_pause(stage: str) -> None:
    wanted, _, folder = os.environ.get(TEST_PAUSE_ENV, "").partition(":")
    if wanted != stage or not folder:
        return
    Path(folder, f"{stage}.reached").write_text(str(os.getpid()), encoding="utf-8")
    while not Path(folder, f"{stage}.go").exists():
        time.sleep(0.05)


def _holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode("utf-8") or "{}")
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(info["started"])))
        return f"pid {int(info['pid'])} on {info['host']}, started {started}"
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that has not yet said who it is"


def _same_file(fd: int, path: Path) -> bool:
    try:
        here, there = os.fstat(fd), os.stat(path)
    except FileNotFoundError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


@contextlib.contextmanager
def hold(folder: Path) -> Iterator[None]:
    """Hold ``folder``'s conversion lock for the block, or refuse naming who holds it."""
    lock_path = folder / LOCK_NAME
    while True:
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except OSError as exc:
            raise AlogError(f"cannot write to output directory {folder}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise AlogError(f"output directory {folder} is being written by another conversion ({holder}); "
                            "run one conversion per folder at a time") from None
        if _same_file(fd, lock_path):  # not a file its previous holder removed after we opened it
            break
        os.close(fd)
    try:
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()})
                      .encode("utf-8"), 0)
        except OSError as exc:  # a full folder
            raise AlogError(f"cannot write to output directory {folder}: {exc.strerror or exc}") from None
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            lock_path.unlink()  # before the lock is dropped: a waiter then sees the file is gone and retries
        os.close(fd)


def _pending_glob(target: Path) -> str:
    return f".{target.name}.*.pending"


@contextlib.contextmanager
def staged(targets: Sequence[Path]) -> Iterator[list[Path]]:
    """Pending names for ``targets``, unique to this run; none is left behind, whatever happens in the block.
    Call with the folder's lock held: a pending file found then is a killed run's."""
    for target in targets:
        for stale in target.parent.glob(_pending_glob(target)):
            with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                stale.unlink()
    token = f"{os.getpid()}-{secrets.token_hex(4)}"
    pending = [t.with_name(f".{t.name}.{token}.pending") for t in targets]
    try:
        yield pending
    finally:
        for path in pending:
            with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                path.unlink()


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM/SIGHUP back for the block, then deliver the first one that came. Python-level
    handlers, not a signal mask: a mask is per thread, and torch's threads would take the signal."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {number: signal.signal(number, lambda got, _frame: caught.append(got)) for number in _DEFERRED}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)
        if caught:
            signal.raise_signal(caught[0])  # now with its usual effect (Ctrl-C: KeyboardInterrupt)


def _backup(target: Path) -> Path | None:
    """A hard link to the regular file now at ``target`` (through a symlink), or None when there is none or
    the file system has no hard links (that file then gets no rollback)."""
    real = Path(os.path.realpath(target))
    try:
        if not stat.S_ISREG(os.stat(real).st_mode):  # a device or FIFO is written in place: nothing to keep
            return None
    except FileNotFoundError:
        return None
    backup = real.with_name(f".{real.name}.{secrets.token_hex(4)}.previous")
    try:
        os.link(real, backup)
    except OSError as exc:
        if exc.errno in (errno.EPERM, errno.EXDEV, errno.EMLINK, errno.ENOTSUP):
            return None
        raise AlogError(f"cannot write {target}: {exc.strerror or exc}") from None
    return backup


def publish(pending: Sequence[Path], targets: Sequence[Path]) -> None:
    """Move every pending file over its target, or, if one move fails, put the previous files back."""
    done: list[tuple[Path, Path | None, bool]] = []  # (target, its backup, whether it existed) once replaced
    backups: list[Path] = []
    with _signals_deferred():
        try:
            for index, (source, target) in enumerate(zip(pending, targets, strict=True)):
                existed = os.path.lexists(target)
                backup = _backup(target) if existed else None
                if backup is not None:
                    backups.append(backup)
                atomic.publish(source, target)
                done.append((target, backup, existed))
                if index == 0:
                    test_pause("mid-publish")
        except BaseException:
            for target, backup, existed in reversed(done):
                with contextlib.suppress(OSError):
                    if backup is not None:
                        os.replace(backup, os.path.realpath(target))
                    elif not existed:
                        Path(os.path.realpath(target)).unlink()
            raise
        finally:
            for backup in backups:
                with contextlib.suppress(FileNotFoundError):
                    backup.unlink()
