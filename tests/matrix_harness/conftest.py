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


# --- one real run with evidence keys: two host cells, DeepLog and MSCRED, one runtime venv ------------------

RUNTIME = """
[[runtime]]
id = "ort-1.21.1"
onnxruntime = "1.21.1"
pins = { numpy = "1.26.4" }
levels = ["all"]
"""
ALLOW = '[warnings]\nallow = ["^DeprecationWarning", "^UserWarning", "^TracerWarning", "^FutureWarning"]\n'


def cells_toml(host_torch: str, ids=("host", "other")) -> str:
    return "".join(f'\n[[cell]]\nid = "{cell}"\ntorch = "{host_torch}"\n' for cell in ids)


def execute(tmp: Path, **options):
    """tmp/matrix.toml run on the host, its reports and scratch in tmp (no C engine: no check here needs it):
    (exit code, the run's options)."""
    from harness.config.matrix import load_matrix
    from harness.run import orchestrator

    matrix = load_matrix(tmp / "matrix.toml")
    opts = orchestrator.RunOptions(out_dir=tmp / "reports", work_root=tmp / "work", host=True, build_engine=False,
                                   **options)
    return orchestrator.run_matrix(matrix, matrix.cells, opts), opts


@pytest.fixture(scope="session")
def keyed_run(tmp_path_factory, host_torch) -> Path:
    """Two host cells (DeepLog and MSCRED, the legacy exporter, golden parity and warnings) and one runtime:
    PASS, with its history record. Tests change a copy."""
    tmp = tmp_path_factory.mktemp("keyed")
    write_matrix(tmp / "matrix.toml", ALLOW + cells_toml(host_torch) + RUNTIME, models=("deeplog", "mscred"),
                 checks=["golden_parity", "warnings"], blocks=60)
    code, _ = execute(tmp)
    assert code == 0
    return tmp
