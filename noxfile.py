"""Sessions: `tests` (the test suite), `lint` (ruff and mypy), `bench` (side-by-side benchmarks), `matrix`
(the release matrix), `cengine` (build the C engine).

Every session is a few lines over `install_project`; versions live in matrix.toml, not here.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).parent
sys.path.insert(0, str(ROOT))
from harness.envs.bytecode import bytecode_env  # noqa: E402 - the checkout's own helpers, before anything is installed
from harness.envs.findlinks import pip_find_links  # noqa: E402

nox.options.default_venv_backend = "uv"
nox.options.sessions = ["tests"]

# The torch the test suite runs on: the local CPU-only wheel (no CUDA packages to download).
TEST_TORCH = "torch==2.13.0"


def uv_env() -> dict[str, str]:
    env = {}
    links = os.environ.get("UV_FIND_LINKS") or ",".join(pip_find_links())
    if links:
        env["UV_FIND_LINKS"] = links
    return env


def install_project(session: nox.Session, torch_spec: str, extras: str = "test") -> None:
    """Install torch first (so the local wheel wins), then the project with its extras."""
    env = uv_env()
    session.install(torch_spec, env=env)
    session.install("-e", f".[{extras}]", torch_spec, env=env)


@nox.session(python="3.11")
def tests(session: nox.Session) -> None:
    install_project(session, TEST_TORCH, extras="test,harness")
    session.run("pytest", *session.posargs, env=bytecode_env())


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """ruff (the rule set in pyproject.toml) and mypy over the shipped packages, converter/ and harness/."""
    install_project(session, TEST_TORCH, extras="test,harness,lint")
    session.run("ruff", "check", "converter", "harness")
    session.run("mypy")


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """Each bench/bench_*.py prints its side-by-side figures and writes reports/bench/<name>.json."""
    install_project(session, TEST_TORCH, extras="test,harness")
    for script in sorted((ROOT / "bench").glob("bench_*.py")):
        session.run("python", str(script), *session.posargs, env=bytecode_env())


@nox.session(python="3.11", venv_backend="uv")
def matrix(session: nox.Session) -> None:
    """Every matrix.toml cell in its own uv venv, then the report and the gate (non-zero exit = not PASS).

    Options go after `--`: `--cells torch-2.8.0,torch-2.9.1`, `--matrix PATH`, `--resume`, `--jobs N`,
    `--stage golden|cells|runtimes`.
    """
    install_project(session, TEST_TORCH, extras="harness")
    session.run("alog-matrix", "run", *session.posargs, env=bytecode_env())


@nox.session(python=False)
def cengine(session: nox.Session) -> None:
    session.run("make", "-C", str(ROOT / "cengine"), *session.posargs, external=True)
