"""Progress of a matrix run: "cell n/N <id>: <stage>".

On a terminal a rich status line is updated in place; in CI (the CI variable is set) or when output
is not a terminal, each change is one plain line, so logs read top to bottom. Each cell writes through
its own ``CellProgress``, so cells that run at once (``--jobs``) keep every line naming its cell.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import TextIO


def interactive(stream: TextIO = sys.stderr) -> bool:
    return not os.environ.get("CI") and stream.isatty()


class Progress:
    def __init__(self, total: int, stream: TextIO = sys.stderr, rich: bool | None = None):
        self.total = total
        self.stream = stream
        self.started = time.monotonic()
        self._status = None
        self._lock = threading.Lock()  # cells report from their own threads
        use_rich = interactive(stream) if rich is None else rich
        if use_rich:
            from rich.console import Console

            self._console = Console(file=stream)
            self._status = self._console.status("")
            self._status.start()

    def cell(self, index: int, cell_id: str) -> CellProgress:
        return CellProgress(self, f"cell {index}/{self.total} {cell_id}: ")

    def status(self, text: str) -> None:
        """A passing state: the status line on a terminal, a plain line otherwise."""
        self._emit(text, keep=False)

    def message(self, line: str) -> None:
        """A line that stays in the log, on a terminal too."""
        self._emit(line, keep=True)

    def _emit(self, text: str, keep: bool) -> None:
        with self._lock:
            if self._status is None:
                print(text, file=self.stream, flush=True)
            elif keep:
                self._console.print(text)
            else:
                self._status.update(text)

    def close(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None


class CellProgress:
    """One cell's stages and final line, each prefixed with the cell; a stage repeated is shown once."""

    def __init__(self, progress: Progress, prefix: str):
        self.progress, self.prefix, self._last = progress, prefix, ""

    def stage(self, stage: str) -> None:
        if stage != self._last:
            self._last = stage
            self.progress.status(self.prefix + stage)

    def note(self, line: str) -> None:
        """A line that stays in the log (why the cell runs), on a terminal too."""
        self.progress.message(self.prefix + line)

    def done(self, line: str) -> None:
        self.progress.message(self.prefix + line)
