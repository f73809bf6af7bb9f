"""ONNX Runtime sessions for the parity kit: one per artifact file, reused by every example."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from converter.errors import AlogError, first_line
from converter.ortsession import ort_session

DEFAULT_THREADS = 1  # one intra-op thread on each side: deterministic and fair on a shared machine


class SessionCache:
    """Sessions keyed by artifact path (and its size and mtime, so a rewritten file reloads)."""

    def __init__(self, threads: int = DEFAULT_THREADS):
        self.threads = threads
        self._sessions: dict[tuple, Any] = {}
        self.created = 0
        self.reused = 0

    @staticmethod
    def _key(path: str | Path) -> tuple:
        path = Path(path).resolve()
        stat = path.stat()
        return str(path), stat.st_size, stat.st_mtime_ns

    def get(self, path: str | Path):
        key = self._key(path)
        session = self._sessions.get(key)
        if session is None:
            try:
                session = ort_session(key[0], threads=self.threads)
            except Exception as exc:  # noqa: BLE001 - ORT raises its own types; one line for the user
                raise AlogError(f"ONNX Runtime cannot load {path}: {first_line(exc, 300)}") from None
            self._sessions[key] = session
            self.created += 1
        else:
            self.reused += 1
        return session

    def predictor(self, path: str | Path, input_name: str, output_name: str, factory):
        """A predict callable built once per artifact by ``factory(path, input_name, output_name)``."""
        key = ("predict", *self._key(path), input_name, output_name)
        if key not in self._sessions:
            self._sessions[key] = factory(path, input_name, output_name, threads=self.threads)
            self.created += 1
        else:
            self.reused += 1
        return self._sessions[key]

    def stats(self) -> dict[str, int]:
        return {"sessions": len(self._sessions), "created": self.created, "reused": self.reused,
                "intra_op_threads": self.threads}
