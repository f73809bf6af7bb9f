"""Capture what an exporter says (Python warnings, and anything printed to stdout/stderr at the file
descriptor level, which catches torch's logging and C++ messages) so it is recorded, not sprayed."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from typing import Iterator

MAX_LOG_CHARS = 20_000


@dataclass
class Captured:
    warnings: list[dict[str, str]] = field(default_factory=list)
    output: str = ""


@contextlib.contextmanager
def _fd_capture(sink: Captured) -> Iterator[None]:
    """Point fds 1 and 2 at one temporary file for the duration of the block."""
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        saved = [os.dup(1), os.dup(2)]
        try:
            os.dup2(tmp.fileno(), 1)
            os.dup2(tmp.fileno(), 2)
            yield
        finally:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            tmp.seek(0)
            text = tmp.read().decode("utf-8", errors="replace")
            if len(text) > MAX_LOG_CHARS:
                text = text[:MAX_LOG_CHARS] + f"\n[... {len(text) - MAX_LOG_CHARS} more characters]"
            sink.output = text


@contextlib.contextmanager
def capture_exporter_output() -> Iterator[Captured]:
    sink = Captured()
    with warnings.catch_warnings(record=True) as caught, _fd_capture(sink):
        warnings.simplefilter("always")
        try:
            yield sink
        finally:
            seen = set()
            for w in caught:
                key = (w.category.__name__, str(w.message))
                if key not in seen:  # the same warning raised per layer is one finding
                    seen.add(key)
                    sink.warnings.append({"category": key[0], "message": key[1]})
