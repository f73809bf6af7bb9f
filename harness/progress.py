"""Progress of a matrix run: "cell n/N <id>: <stage>".

On a terminal a rich status line is updated in place; in CI (the CI variable is set) or when output
is not a terminal, each change is one plain line, so logs read top to bottom.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO


def interactive(stream: TextIO = sys.stderr) -> bool:
    return not os.environ.get("CI") and stream.isatty()


class Progress:
    def __init__(self, total: int, stream: TextIO = sys.stderr, rich: bool | None = None):
        self.total = total
        self.stream = stream
        self.index = 0
        self.cell_id = ""
        self.started = time.monotonic()
        self._status = None
        self._last = ""
        use_rich = interactive(stream) if rich is None else rich
        if use_rich:
            from rich.console import Console

            self._console = Console(file=stream)
            self._status = self._console.status("")
            self._status.start()

    def cell(self, index: int, cell_id: str) -> None:
        self.index, self.cell_id = index, cell_id

    def stage(self, stage: str) -> None:
        text = f"cell {self.index}/{self.total} {self.cell_id}: {stage}"
        if text == self._last:
            return
        self._last = text
        if self._status is not None:
            self._status.update(text)
        else:
            print(text, file=self.stream, flush=True)

    def done(self, line: str) -> None:
        """A cell's final line stays in the log on a terminal too."""
        text = f"cell {self.index}/{self.total} {self.cell_id}: {line}"
        if self._status is not None:
            self._console.print(text)
        else:
            print(text, file=self.stream, flush=True)

    def message(self, line: str) -> None:
        if self._status is not None:
            self._console.print(line)
        else:
            print(line, file=self.stream, flush=True)

    def close(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None
