"""Is there room for the cells we are about to build? Checked before any venv is built.

A cell whose venv is current costs nothing. A new one costs its unpacked wheels in uv's cache: the [disk]
figures of matrix.toml, measured per kind of torch wheel, when uv's cache lacks them. When every package
of the cell already resolves from the cache alone (``uv pip compile --offline``), the venv costs its hard
links and a few files of its own: ``LINKED_CELL_GB``, not the wheels' size again. This is what lets a
second state folder (another repository, another checkout) start on a machine whose cache holds the torches.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from converter.errors import AlogError
from harness.config.matrix import Cell, Matrix
from harness.envs import venvs as envs
from harness.envs import wheel

GB = 1e9
DEFAULT_CUDA_CELL_GB = 7.0
DEFAULT_CPU_CELL_GB = 1.2
DEFAULT_MARGIN_GB = 3.0
LINKED_CELL_GB = 0.15  # a venv of hard links into uv's cache: directories, links, bytecode, our wheel


@dataclass(frozen=True)
class DiskNeed:
    need_gb: float
    free_gb: float
    to_build: tuple[str, ...]

    @property
    def enough(self) -> bool:
        return self.free_gb >= self.need_gb


def cell_cost_gb(cell: Cell, matrix: Matrix, cached: bool = False) -> float:
    if cached:
        return LINKED_CELL_GB
    key = "cpu_cell_gb" if cell.find_links else "cuda_cell_gb"
    default = DEFAULT_CPU_CELL_GB if cell.find_links else DEFAULT_CUDA_CELL_GB
    return float(matrix.disk.get(key, default))


def in_uv_cache(cell: Cell) -> bool:
    """Every package the cell's venv installs resolves from uv's cache alone (no download)."""
    wanted = [*wheel.requirements(cell.project_extras or ()), *cell.requirements()]
    try:
        proc = subprocess.run([envs.uv_executable(), "pip", "compile", "-", "--offline", "--quiet", "--no-header",
                               "--python-version", cell.python], input="\n".join(wanted) + "\n",
                              env=envs.uv_environment(cell), capture_output=True, text=True, timeout=300, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def estimate(cells: tuple[Cell, ...], matrix: Matrix, env_root: Path = envs.CELLS_ENV_DIR) -> DiskNeed:
    to_build = tuple(c.id for c in cells if not envs.is_current(c, env_root))
    need = sum(cell_cost_gb(c, matrix, cached=in_uv_cache(c)) for c in cells if c.id in to_build)
    if to_build:
        need += float(matrix.disk.get("margin_gb", DEFAULT_MARGIN_GB))
    probe = env_root if env_root.exists() else next(p for p in env_root.parents if p.exists())
    free = shutil.disk_usage(probe).free / GB
    return DiskNeed(round(need, 1), round(free, 1), to_build)


def require_space(cells: tuple[Cell, ...], matrix: Matrix, env_root: Path = envs.CELLS_ENV_DIR) -> DiskNeed:
    need = estimate(cells, matrix, env_root)
    if not need.enough:
        raise AlogError(
            f"not enough disk for the cell venvs: {len(need.to_build)} to build need ~{need.need_gb:.1f} GB, "
            f"{need.free_gb:.1f} GB free (free space, or run fewer cells with --cells)"
        )
    return need
