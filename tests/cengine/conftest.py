"""Fixtures for the C engine suite: the compiled engine (release and sanitizer builds), the ONNX
Runtime library of this Python, and real model directories from the converter (tests/conftest.py).

Every engine run goes through ``Engine.run``, which fails the test on anything that is not a clean
exit: a signal, an exit code >= 128, a sanitizer report, or more than one line on stderr.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.runtimes import engine as cengine

SUPPRESSIONS = cengine.CENGINE_DIR / "lsan.supp"
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:", "SUMMARY: UndefinedBehavior")
SAN_EXITCODE = 99  # what a sanitizer report exits with: distinct from the engine's own codes


@dataclass
class Result:
    code: int
    stdout: bytes
    stderr: str

    @property
    def lines(self) -> list[str]:
        return self.stdout.decode("utf-8").splitlines()


@dataclass
class Engine:
    name: str
    path: Path
    ort_lib: Path
    env: dict[str, str] = field(default_factory=dict)

    def run(self, *args, stdin: bytes | int | None = None, ort_lib: bool = True, env: dict[str, str] | None = None,
            timeout: float = 600, preexec_fn=None) -> Result:
        """``stdin``: bytes to feed, or a file descriptor to hand over as the engine's standard input."""
        cmd = [str(self.path), *map(str, args)]
        if ort_lib:
            cmd += ["--ort-lib", str(self.ort_lib)]
        import os

        feed = {"stdin": stdin} if isinstance(stdin, int) else {"input": stdin}
        done = subprocess.run(cmd, **feed, capture_output=True, timeout=timeout, preexec_fn=preexec_fn,
                              env={**os.environ, **self.env, **(env or {})})
        stderr = done.stderr.decode("utf-8", errors="replace")
        assert done.returncode >= 0, f"{self.name} engine killed by signal {-done.returncode}: {stderr[-2000:]}"
        assert not any(m in stderr for m in SANITIZER_MARKERS), f"sanitizer report from {cmd}:\n{stderr[-4000:]}"
        assert done.returncode < 128 and done.returncode != SAN_EXITCODE, f"exit {done.returncode}: {stderr[-2000:]}"
        if done.returncode == 0:
            assert stderr == "", f"a successful run printed on stderr: {stderr[-2000:]}"
        else:
            assert stderr.endswith("\n") and stderr.count("\n") == 1, f"expected one stderr line, got {stderr!r}"
            assert stderr.startswith("inference_engine: ")
        return Result(done.returncode, done.stdout, stderr.strip())


def sanitizer_env() -> dict[str, str]:
    return {
        "ASAN_OPTIONS": f"detect_leaks=1:exitcode={SAN_EXITCODE}:abort_on_error=0:allocator_may_return_null=1",
        # ONNX Runtime's own process-lifetime allocations only (see cengine/lsan.supp).
        "LSAN_OPTIONS": f"suppressions={SUPPRESSIONS}:print_suppressions=0:exitcode={SAN_EXITCODE}",
        "UBSAN_OPTIONS": f"halt_on_error=1:print_stacktrace=1:exitcode={SAN_EXITCODE}",
    }


@pytest.fixture(scope="session")
def ort_lib() -> Path:
    return cengine.default_ort_lib()


@pytest.fixture(scope="session")
def release_engine(ort_lib) -> Engine:
    return Engine("release", cengine.ensure_built("all"), ort_lib)


@pytest.fixture(scope="session")
def asan_engine(ort_lib) -> Engine:
    return Engine("asan", cengine.ensure_built("asan"), ort_lib, sanitizer_env())


@pytest.fixture(scope="session", params=["release", "asan"])
def engine(request) -> Engine:
    """Each test that takes ``engine`` runs against the release build and the ASan+UBSan build."""
    return request.getfixturevalue(f"{request.param}_engine")


@pytest.fixture(scope="session")
def hdfs_dir(model_dir) -> Path:
    """A real converted HDFS model directory (legacy export): the base for edge and bad inputs."""
    return model_dir("HDFS", "legacy")


@pytest.fixture
def copy_dir(hdfs_dir, tmp_path):
    """A private copy of the HDFS model directory to tamper with."""

    def make(name: str = "model") -> Path:
        target = tmp_path / name
        shutil.copytree(hdfs_dir, target)
        return target

    return make
