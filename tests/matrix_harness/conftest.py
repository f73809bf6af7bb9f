"""Fixtures for the harness tests: small matrix files for the torch of the running interpreter.

These tests run real child processes, real venvs and real exports, but only with the torch already
installed here (``--host`` cells) or the local CPU wheel: no CUDA torch is downloaded.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "report"))  # browser and domtext: the report tests' Chromium helpers


@pytest.fixture(scope="session")
def host_torch() -> str:
    import torch

    return torch.__version__.split("+")[0]


def write_matrix(path: Path, body: str, *, models=("deeplog",), strategies=("legacy",), checks=None,
                 blocks: int = 40, timeout_s: int = 300) -> Path:
    """A matrix.toml with fast defaults (one model, the legacy exporter, a small synthetic log)."""
    checks_line = f"checks = {list(checks)!r}\n" if checks else ""
    head = (
        "[defaults]\n"
        f"models = {list(models)!r}\n"
        f"strategies = {list(strategies)!r}\n"
        f"timeout_s = {timeout_s}\n"
        f"{checks_line}"
        "\n[data]\n"
        f"synthetic_blocks = {blocks}\n"
        "seed = 3\n"
        "\n[gate]\n"
        'xpass = "warn"\n'
        'fail_on = ["fail", "error", "crash", "timeout"]\n\n'
    )
    path.write_text(head.replace("'", '"') + textwrap.dedent(body), encoding="utf-8")
    return path
