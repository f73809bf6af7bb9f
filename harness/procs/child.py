"""A cell runner as a child process: its own session (so a time limit kills the whole tree), its output
in a log file, its progress read from the "stage: X" lines it prints."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.ground.protocol import PARENT_ENV, STAGE_PREFIX, RunInterrupted

TAIL_LINES = 40
TAIL_CHARS = 6000
KILL_GRACE_S = 5.0


class _Stop:
    """Set by the main thread once interrupted: cells running in other threads (--jobs) stop their child
    at its next poll, as the main thread's own cell does at once."""

    event = threading.Event()
    signum: int = signal.SIGTERM


def stop_children(signum: int) -> None:
    _Stop.signum = signum
    _Stop.event.set()


def _raise_if_stopped() -> None:
    if _Stop.event.is_set():
        raise RunInterrupted(_Stop.signum)


@contextlib.contextmanager
def interruptible():
    """Turn SIGTERM and SIGINT into ``RunInterrupted`` for the block (the main thread's handlers)."""

    def interrupt(signum, _frame):
        raise RunInterrupted(signum)

    _Stop.event.clear()
    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _Stop.event.clear()


@dataclass
class ChildOutcome:
    returncode: int | None
    timed_out: bool
    seconds: float
    last_stage: str | None

    @property
    def clean(self) -> bool:
        return self.returncode == 0 and not self.timed_out


def output_tail(log_path: Path) -> str:
    try:
        lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-TAIL_LINES:])[-TAIL_CHARS:]


def signal_name(returncode: int) -> str:
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


def run_child(cmd: list[str], env: dict[str, str], log_path: Path, timeout_s: float,
              on_stage: Callable[[str], None] = lambda s: None) -> ChildOutcome:
    """Run ``cmd`` in its own session, output to ``log_path``; kill the whole group at the limit."""
    _raise_if_stopped()
    started = time.monotonic()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env={**env, PARENT_ENV: str(os.getpid())}, cwd=log_path.parent,
                                start_new_session=True)
    try:
        return _follow(proc, log_path, started, timeout_s, on_stage)
    except BaseException:  # an interruption (or any error here): the child's whole group goes with it
        kill_group(proc)
        raise


def _follow(proc: subprocess.Popen, log_path: Path, started: float, timeout_s: float,
            on_stage: Callable[[str], None]) -> ChildOutcome:
    deadline = started + timeout_s
    seen = 0
    last_stage = None
    timed_out = False
    while True:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=0.5)
        seen, stages = _scan_stages(log_path, seen)
        for stage in stages:
            last_stage = stage
            on_stage(stage)
        if proc.returncode is not None:
            break
        _raise_if_stopped()
        if time.monotonic() > deadline:
            timed_out = True
            kill_group(proc)
            break
    return ChildOutcome(proc.returncode, timed_out, time.monotonic() - started, last_stage)


def _scan_stages(log_path: Path, offset: int) -> tuple[int, list[str]]:
    """The stage lines the runner printed since ``offset``."""
    try:
        with open(log_path, "rb") as log:
            log.seek(offset)
            chunk = log.read()
    except OSError:
        return offset, []
    end = chunk.rfind(b"\n") + 1  # only whole lines
    text = chunk[:end].decode("utf-8", errors="replace")
    stages = [line[len(STAGE_PREFIX):].strip() for line in text.splitlines() if line.startswith(STAGE_PREFIX)]
    return offset + end, stages


def kill_group(proc: subprocess.Popen) -> None:
    """SIGTERM to the child's whole process group, then SIGKILL after a grace period."""
    for sig, wait in ((signal.SIGTERM, KILL_GRACE_S), (signal.SIGKILL, 30.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
