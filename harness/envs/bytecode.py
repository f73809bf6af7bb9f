"""Where the processes the harness and its sessions start keep their compiled bytecode.

A machine may set PYTHONDONTWRITEBYTECODE (this one does): then every process compiles torch, onnx and
onnxscript from source again as it imports them, about 8 s of a 21 s export process. Our own processes
write their bytecode instead, to one folder of the run's state (PYTHONPYCACHEPREFIX; the checkout's is
.nox/pycache), never into the sources or the user's other environments. Standard library only: the
noxfile imports it before anything is installed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from harness.ground.paths import CHECKOUT_STATE

PYCACHE = CHECKOUT_STATE.pycache


def bytecode_env(environ: Mapping[str, str] = os.environ, folder: Path = PYCACHE) -> dict[str, str]:
    """The variables to set for a child process (a prefix the user set is kept)."""
    return {"PYTHONDONTWRITEBYTECODE": "", "PYTHONPYCACHEPREFIX": environ.get("PYTHONPYCACHEPREFIX") or str(folder)}
