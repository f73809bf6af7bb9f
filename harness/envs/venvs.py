"""Build (or reuse) one cell's or runtime's virtual environment with uv.

A cell's venv lives in ``<state>/cells/<cell id>`` and holds the cell's torch, its companion pins and
alog-detect itself with its ``test`` extra, installed from one wheel of the code the orchestrator runs
(``harness.envs.wheel``): never a path into a source tree. A runtime's venv holds onnxruntime, numpy and
the same wheel without its dependencies (no torch). uv hard-links wheels from its cache, so a rebuild of a
known cell takes seconds; a venv whose stamp matches its spec is reused as it is, and a code change only
reinstalls the one wheel.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from converter.errors import AlogError
from harness.config.matrix import Cell, Runtime
from harness.envs.findlinks import pip_find_links
from harness.envs.wheel import DISTRIBUTION, ProjectWheel, build_wheel
from harness.ground.paths import CHECKOUT_STATE

CELLS_ENV_DIR = CHECKOUT_STATE.cell_envs
RUNTIMES_ENV_DIR = CHECKOUT_STATE.runtime_envs
STAMP = ".alog-cell.json"

# A venv spec: a matrix cell (torch and the project's dependencies with its test extra) or a runtime
# (onnxruntime and numpy only). Each says what it installs, what must import, and which version is pinned.
VenvSpec = Cell | Runtime


@dataclass(frozen=True)
class CellEnv:
    cell_id: str
    path: Path
    reused: bool = False
    seconds: float = 0.0

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    def site_packages(self) -> Path:
        found = sorted((self.path / "lib").glob("python3*/site-packages"))
        if not found:
            raise AlogError(f"{self.path} has no site-packages: not a built cell venv")
        return found[0]


def uv_executable() -> str:
    """uv from PATH, else the one installed beside this interpreter (the harness extra brings it)."""
    found = shutil.which("uv")
    if found:
        return found
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except Exception:  # noqa: BLE001 - any failure means "not available"
        raise AlogError("uv is not installed: install the project's harness extra (pip install '.[harness]')") from None


def uv_environment(cell: VenvSpec) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("UV_FIND_LINKS", None)  # only the cells that ask for the local wheels see them
    env.pop("VIRTUAL_ENV", None)
    if cell.find_links:
        links = pip_find_links()
        if not links:
            raise AlogError(f"cell {cell.id} wants local wheels but pip has no global.find-links configured")
        env["UV_FIND_LINKS"] = ",".join(links)
    return env


def require_installable(cells: tuple[VenvSpec, ...], root: Path = CELLS_ENV_DIR) -> None:
    """Every requirement of every cell whose venv is to be built exists for its Python on the registry (or
    the local wheel folder), checked by resolving them without dependencies before anything is built."""
    uv = None
    for cell in cells:
        if is_current(cell, root):
            continue
        uv = uv or uv_executable()
        proc = subprocess.run([uv, "pip", "compile", "-", "--no-deps", "--no-header", "--quiet", "--python-version",
                               cell.python], input="\n".join(cell.requirements()) + "\n", env=uv_environment(cell),
                              capture_output=True, text=True, timeout=300, check=False)
        if proc.returncode != 0:
            lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
            why = next((ln.removeprefix("╰─▶ ").removeprefix("cause: ") for ln in lines
                        if "version" in ln or "not found" in ln), lines[-1] if lines else f"uv exit {proc.returncode}")
            raise AlogError(f"{_kind(cell)} {cell.id}: its requirements cannot be installed for Python "
                            f"{cell.python}: {why}")


def project_wheel(root: Path, write: bool = True) -> ProjectWheel:
    """The wheel of alog-detect the venvs under ``root`` install, kept in the state folder beside them."""
    return build_wheel(root.parent / "wheels", write)


def spec_fingerprint(cell: VenvSpec, wheel: ProjectWheel | None = None) -> str:
    """Everything that decides a venv's packages; a change rebuilds it. The project's code is not in it: a
    new wheel of the same dependencies is reinstalled alone."""
    payload = json.dumps(
        {
            "python": cell.python,
            "requirements": cell.requirements(),
            "find_links": cell.find_links,
            "extras": cell.project_extras,
            "dependencies": wheel.requires if wheel is not None and cell.project_extras is not None else None,
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def env_path(cell: VenvSpec, root: Path = CELLS_ENV_DIR) -> Path:
    return root / cell.id


def _stamp(cell: VenvSpec, root: Path) -> dict:
    try:
        return json.loads((env_path(cell, root) / STAMP).read_text())
    except (OSError, ValueError):
        return {}


def is_current(cell: VenvSpec, root: Path = CELLS_ENV_DIR, wheel: ProjectWheel | None = None) -> bool:
    """Its packages are the spec's (the project's own wheel may still need a reinstall)."""
    wheel = wheel or project_wheel(root, write=False)
    return _stamp(cell, root).get("fingerprint") == spec_fingerprint(cell, wheel)


def ensure_env(
    cell: VenvSpec,
    root: Path = CELLS_ENV_DIR,
    log: Callable[[str], None] = lambda line: None,
    timeout_s: float = 1800,
) -> CellEnv:
    """Return the cell's venv, building it when its spec changed, and with this code's wheel installed."""
    start = time.monotonic()
    path = env_path(cell, root)
    wheel = project_wheel(root)
    python = path / "bin" / "python"
    stamp = _stamp(cell, root)
    if is_current(cell, root, wheel) and python.exists():
        if stamp.get("wheel") != wheel.digest:  # the code changed, its dependencies did not
            _run([uv_executable(), "pip", "install", "--python", str(python), "--no-deps", "--reinstall-package",
                  DISTRIBUTION, str(wheel.path)], uv_environment(cell), log, timeout_s)
            (path / STAMP).write_text(json.dumps({**stamp, "wheel": wheel.digest}, indent=2))
        return CellEnv(cell.id, path, reused=True, seconds=time.monotonic() - start)

    uv = uv_executable()
    env = uv_environment(cell)
    shutil.rmtree(path, ignore_errors=True)  # a changed spec starts from an empty venv: nothing stale is kept
    _run([uv, "venv", "--quiet", "--python", cell.python, str(path)], env, log, timeout_s)
    if cell.project_extras is None:  # a runtime: the harness's code only, no torch
        _run([uv, "pip", "install", "--python", str(python), *cell.requirements()], env, log, timeout_s)
        _run([uv, "pip", "install", "--python", str(python), "--no-deps", str(wheel.path)], env, log, timeout_s)
    else:
        project = f"{wheel.path}[{','.join(cell.project_extras)}]"
        _run([uv, "pip", "install", "--python", str(python), project, *cell.requirements()], env, log, timeout_s)
    cell_env = CellEnv(cell.id, path)
    versions = verify_env(cell, cell_env)
    stamp = {"fingerprint": spec_fingerprint(cell, wheel), "wheel": wheel.digest, "requirements": cell.requirements(),
             "versions": versions}
    (path / STAMP).write_text(json.dumps(stamp, indent=2))
    return CellEnv(cell.id, path, reused=False, seconds=time.monotonic() - start)


def verify_env(cell: VenvSpec, cell_env: CellEnv) -> dict[str, str]:
    """Import the venv's stack together and check its pinned package is the version the spec names."""
    code = (
        "import importlib, json\n"
        f"mods = {cell.verify_imports!r}\n"
        "print(json.dumps({m: getattr(importlib.import_module(m), '__version__', '?') for m in mods}))\n"
    )
    proc = subprocess.run([str(cell_env.python), "-c", code], capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise AlogError(f"{_kind(cell)} {cell.id}: its packages do not import together: {last}")
    versions = json.loads(proc.stdout.strip().splitlines()[-1])
    module, wanted = cell.pinned
    if versions[module].split("+")[0] != wanted:
        raise AlogError(f"{_kind(cell)} {cell.id}: asked for {module} {wanted}, the venv has {versions[module]}")
    return versions


def _kind(spec: VenvSpec) -> str:
    return "runtime" if isinstance(spec, Runtime) else "cell"


def _run(cmd: list[str], env: dict[str, str], log: Callable[[str], None], timeout_s: float) -> None:
    log(" ".join(Path(cmd[0]).name if i == 0 else a for i, a in enumerate(cmd)))
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise AlogError(f"{Path(cmd[0]).name} {cmd[1]} took longer than {timeout_s:.0f} s") from None
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        detail = " | ".join(lines[-3:]) if lines else f"exit code {proc.returncode}"
        raise AlogError(f"{Path(cmd[0]).name} {' '.join(cmd[1:3])} failed: {detail}")
