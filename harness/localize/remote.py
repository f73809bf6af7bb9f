"""A runtime's own values for the localizer: the marked model run in that [[runtime]]'s venv (which has
onnxruntime and numpy only) by ``harness.localize.values``."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Any

from converter.errors import AlogError
from harness.config.matrix import Matrix
from harness.envs import venvs as envs
from harness.localize import graph, values


def values_in_runtime(matrix: Matrix, runtime_id: str, model: Path, x: Any, opt_level: str,
                      env_root: Path) -> dict[str, Any]:
    import numpy as np

    venv = envs.ensure_env(matrix.runtime(runtime_id), env_root)
    with tempfile.TemporaryDirectory(prefix="localize-remote-") as tmp:
        marked, source, out = Path(tmp) / "marked.onnx", Path(tmp) / "x.npy", Path(tmp) / "values.npz"
        graph.mark_all(model, marked)
        np.save(source, x)
        done = subprocess.run([str(venv.python), "-m", "harness.localize", "--model", str(marked), "--input",
                               str(source), "--opt-level", opt_level, "--out", str(out)], cwd=tmp,
                              capture_output=True, text=True, timeout=600, check=False)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
            raise AlogError(f"runtime {runtime_id} could not run the marked model: {last}")
        return values.read_values(out)
