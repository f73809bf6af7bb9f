"""Python side of the C engine (cengine/): build it, run its modes, read what it prints.

The engine resolves ONNX Runtime at run time; by default we hand it the library inside the active
Python's ``onnxruntime`` package, so it runs on exactly the ONNX Runtime this environment tests.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

from converter.errors import AlogError
from harness.ground.paths import ROOT

CENGINE_DIR = ROOT / "cengine"  # the checkout's sources, built in place by `make -C cengine` and the tests
TARGETS = {"all": "bin/inference_engine", "asan": "bin/inference_engine_asan"}
BINARIES = {target: CENGINE_DIR / binary for target, binary in TARGETS.items()}
SOURCE_FILES = ("Makefile", "fetch_deps.sh", "lsan.supp", "valgrind.supp")

# The engine's documented exit codes (cengine/src/common.h).
EXIT_USAGE, EXIT_INPUT, EXIT_RUNTIME, EXIT_OUTPUT = 2, 3, 4, 5

# The orchestrator builds the engine once and hands the cells its path (or why the build failed).
ENGINE_ENV = "ALOG_CENGINE_BIN"
ENGINE_ERROR_ENV = "ALOG_CENGINE_ERROR"


class EngineError(AlogError):
    """The engine refused or failed: its one stderr line, with the exit code kept for callers."""

    def __init__(self, message: str, returncode: int | None = None, stderr: str = ""):
        super().__init__(message)
        self.returncode = returncode
        self.stderr = stderr


def source_digest(sources: Path) -> str:
    """sha256 over the engine's sources (their names and bytes): a build is reused while it is unchanged."""
    digest = hashlib.sha256()
    for path in [sources / name for name in SOURCE_FILES] + sorted((sources / "src").glob("*.[ch]")):
        digest.update(path.relative_to(sources).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _build_folder(build_root: Path) -> Path:
    """A copy of the engine's sources in ``build_root/<digest>``, sharing one third_party/ per state folder
    (the ONNX Runtime headers and cJSON are fetched once)."""
    from harness.envs.wheel import engine_sources

    sources = engine_sources()
    folder = build_root / source_digest(sources)[:16]
    if not (folder / "Makefile").is_file():
        staging = build_root / f".{folder.name}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        (staging / "src").mkdir(parents=True)
        for name in SOURCE_FILES:
            shutil.copy2(sources / name, staging / name)
        for path in (sources / "src").glob("*.[ch]"):
            shutil.copy2(path, staging / "src" / path.name)
        (staging / "fetch_deps.sh").chmod(0o755)  # a wheel does not keep the executable bit
        shared = build_root / "third_party"
        if not shared.exists() and (sources / "third_party").is_dir():
            shutil.copytree(sources / "third_party", shared)  # the checkout's fetched headers: no second fetch
        shared.mkdir(parents=True, exist_ok=True)
        (staging / "third_party").symlink_to(shared)
        staging.rename(folder)
    return folder


def ensure_built(target: str = "all", build_root: Path | None = None) -> Path:
    """Build the engine with make when it is missing or stale; return the binary. With ``build_root`` (a run's
    state folder) the sources are built in ``build_root/<source digest>``, else in place in the checkout."""
    if target not in TARGETS:
        raise ValueError(f"unknown engine build {target!r}; choose from {sorted(TARGETS)}")
    if build_root is None:
        folder = CENGINE_DIR
        if not (folder / "Makefile").is_file():
            raise EngineError("no C engine sources beside the harness: build it into a state folder "
                              "(alog-matrix engine --build)")
    else:
        build_root.mkdir(parents=True, exist_ok=True)
        with open(build_root / ".build.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            folder = _build_folder(build_root)
    binary = folder / TARGETS[target]
    lock_dir = folder / "bin"
    lock_dir.mkdir(parents=True, exist_ok=True)
    # Several processes (test workers, matrix cells) may ask at once: one make at a time.
    with open(lock_dir / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        up_to_date = binary.exists() and subprocess.run(
            ["make", "-q", "-C", str(folder), target], capture_output=True, check=False).returncode == 0
        if not up_to_date:
            try:
                done = subprocess.run(["make", "-C", str(folder), target], capture_output=True, text=True,
                                      check=False)
            except FileNotFoundError:
                raise EngineError("building the C engine needs make and a C compiler; make is not installed") \
                    from None
            if done.returncode != 0 or not binary.exists():
                tail = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or ["no output"]
                raise EngineError(f"building the C engine failed (make -C {folder} {target}): {tail[0]}",
                                  done.returncode, done.stderr)
    return binary


def default_ort_lib() -> Path:
    """The ONNX Runtime shared library inside the active Python's onnxruntime package."""
    try:
        import onnxruntime
    except ImportError:
        raise AlogError("onnxruntime is not installed in this Python; the C engine needs its library") from None
    capi = Path(onnxruntime.__file__).parent / "capi"
    candidates = sorted(p for p in capi.glob("libonnxruntime.so.*") if p.name[len("libonnxruntime.so."):][:1].isdigit())
    if not candidates:
        raise AlogError(f"no libonnxruntime.so.<version> in {capi}")
    return max(candidates, key=lambda p: len(p.name))  # the fully versioned file, not a soname link


def run_engine(args: Sequence[str], ort_lib: str | os.PathLike | None = None, binary: Path | None = None,
               env: dict[str, str] | None = None, stdin: bytes | None = None,
               timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the engine with ``args``; raise EngineError carrying its stderr line on a non-zero exit."""
    binary = binary or ensure_built()
    lib = ort_lib if ort_lib is not None else default_ort_lib()
    cmd = [str(binary), *map(str, args), "--ort-lib", str(lib)]
    done = subprocess.run(cmd, capture_output=True, input=stdin, timeout=timeout, check=False,
                          env={**os.environ, **(env or {})})
    if done.returncode != 0:
        stderr = done.stderr.decode("utf-8", errors="replace").strip()
        if done.returncode < 0:
            message = f"C engine killed by signal {-done.returncode}: {stderr.splitlines()[-1:] or ''}"
        else:
            message = stderr.splitlines()[-1] if stderr else f"C engine exited with {done.returncode}"
        raise EngineError(message, done.returncode, stderr)
    return done


def run_detect(model_dir, log_path, top_g: int | None = None, ort_lib=None, batch: int | None = None,
               threads: int | None = None, binary: Path | None = None, *,
               opt_level: str | None = None) -> list[dict[str, Any]]:
    """Detection mode: one verdict dict per non-blank line of ``log_path``. ``opt_level``: the
    engine's --opt-level (disabled, basic, extended, all); None leaves the engine's default."""
    args = [str(model_dir), "--log", str(log_path)]
    if top_g is not None:
        args += ["--top-g", str(top_g)]
    if batch is not None:
        args += ["--batch", str(batch)]
    if threads is not None:
        args += ["--threads", str(threads)]
    if opt_level is not None:
        args += ["--opt-level", opt_level]
    out = run_engine(args, ort_lib, binary).stdout.decode("utf-8")
    return [json.loads(line) for line in out.splitlines() if line]


def run_parity(onnx_path, x: np.ndarray, ort_lib=None, binary: Path | None = None, *,
               opt_level: str | None = None) -> np.ndarray:
    """Parity mode: the model's first output for input ``x`` (any rank; int64 or float32).
    ``opt_level`` as for run_detect."""
    import numpy as np

    with tempfile.TemporaryDirectory(prefix="cengine-parity-") as tmp:
        src, dst = Path(tmp) / "x.npy", Path(tmp) / "y.npy"
        np.save(src, np.ascontiguousarray(x))
        args = ["--model", str(onnx_path), "--input", str(src), "--output", str(dst)]
        if opt_level is not None:
            args += ["--opt-level", opt_level]
        run_engine(args, ort_lib, binary)
        return np.load(dst)


def run_bench(model_dir, iterations: int, batch: int, ort_lib=None, threads: int = 1,
              binary: Path | None = None) -> dict[str, Any]:
    """The engine's own timing of ``iterations`` Run calls of ``batch`` windows (see --bench)."""
    args = [str(model_dir), "--bench", str(iterations), "--batch", str(batch), "--threads", str(threads)]
    return json.loads(run_engine(args, ort_lib, binary).stdout)


def engine_for_cell() -> Path:
    """The engine the orchestrator built (ENGINE_ENV), else build or reuse it here."""
    failed = os.environ.get(ENGINE_ERROR_ENV)
    if failed:
        raise AlogError(f"the C engine could not be built: {failed}")
    given = os.environ.get(ENGINE_ENV)
    if given:
        if not Path(given).is_file():
            raise AlogError(f"{ENGINE_ENV}={given} does not exist (did the engine build fail?)")
        return Path(given)
    return ensure_built()
