"""How the reference models are trained: the log (matrix.toml's [data] log, else a deterministic synthetic
HDFS log) and the short, seeded schedule. The golden stage trains the reference checkpoints with it, and
each cell's ``train`` check runs the same pipeline on its own torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from converter.errors import AlogError
from harness.golden import synthlog

if TYPE_CHECKING:
    from harness.config.matrix import Matrix

TRAIN_WINDOW = 10
TRAIN_EPOCHS = 3
MSCRED_EPOCHS = 1  # MSCRED trains ~6 s an epoch here; parity does not need a converged model


def training_log(matrix: Matrix, work: Path) -> tuple[Path, str]:
    """The log a cell (and the golden stage) trains on: [data] log, else the deterministic synthetic one."""
    real = matrix.data_log()
    if real is not None:
        if not real.is_file():
            raise AlogError(f"[data] log = {real} does not exist")
        return real, str(matrix.data.get("format", "auto"))
    log = work / "synthetic_hdfs.log"
    synthlog.generate(log, blocks=int(matrix.data.get("synthetic_blocks", 300)), seed=int(matrix.data.get("seed", 7)))
    return log, "hdfs"
