"""Capture what an exporter says so it is recorded, not sprayed: Python warnings, Python-level prints
and logging handlers (which may hold a stream that is not fd 1/2, e.g. under pytest), and anything
written to file descriptors 1 and 2 (C++ messages)."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field

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
def _python_streams(buffer: io.StringIO) -> Iterator[None]:
    """sys.stdout/sys.stderr and every console logging handler write to ``buffer``.

    Handlers keep the stream they were created with (which may be a stale replacement of sys.stderr),
    so every plain StreamHandler is redirected, not only those pointing at today's sys.stderr."""
    loggers = [logging.getLogger()] + [
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    swapped = []
    for logger in loggers:
        for handler in logger.handlers:
            if type(handler) is logging.StreamHandler:  # FileHandler and others keep writing
                swapped.append((handler, handler.setStream(buffer)))
    try:
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            yield
    finally:
        for handler, stream in swapped:
            handler.setStream(stream)


@contextlib.contextmanager
def capture_exporter_output() -> Iterator[Captured]:
    sink = Captured()
    buffer = io.StringIO()
    with warnings.catch_warnings(record=True) as caught, _fd_capture(sink), _python_streams(buffer):
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
    sink.output = (buffer.getvalue() + sink.output)[: MAX_LOG_CHARS * 2]
