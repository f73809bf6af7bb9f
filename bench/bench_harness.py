"""Matrix harness benchmark: building one cell's environment with uv vs pip, and per-cell stage times.

Fair comparison: both tools install the very same requirement list from the same sources (the local CPU-torch
cell's torch and pins plus the project's dependencies with the test extra, exact versions resolved once by uv) into
a fresh venv, from the same local wheel folder pip is configured with. Each tool first does one
untimed warm-up install so its cache holds every wheel (pip's HTTP/wheel cache, uv's cache); then
each builds a fresh venv ``--rounds`` times and the best time counts. Neither downloads in a timed
round; what is measured is venv creation + resolution + unpacking/linking.

Stage times come from the cell results of the last matrix run (reports/cells/*.json).
Writes reports/bench/harness.json.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from converter import atomic  # noqa: E402
from harness.config.matrix import DEFAULT_MATRIX, load_matrix  # noqa: E402
from harness.envs import venvs as envs  # noqa: E402
from harness.envs.findlinks import pip_find_links  # noqa: E402
from harness.ground.records import CellResult  # noqa: E402


def locked_requirements(cell, uv: str, env: dict[str, str]) -> list[str]:
    """The exact versions both tools will install (resolved once, by uv)."""
    with tempfile.TemporaryDirectory() as tmp:
        reqs = Path(tmp) / "in.txt"
        reqs.write_text("\n".join(cell.requirements()) + "\n")
        out = subprocess.run(
            [uv, "pip", "compile", "-q", "--python-version", cell.python, str(ROOT / "pyproject.toml"),
             *(f"--extra={e}" for e in cell.project_extras or ()), str(reqs), "--no-header", "--no-annotate"],
            capture_output=True, text=True, env=env, check=True,
        ).stdout
    return [line.strip() for line in out.splitlines() if line.strip() and not line.startswith("#")]


def build_with_uv(target: Path, reqs: list[str], uv: str, env: dict[str, str], python: str) -> float:
    shutil.rmtree(target, ignore_errors=True)
    started = time.perf_counter()
    subprocess.run([uv, "venv", "-q", "--python", python, str(target)], env=env, check=True)
    subprocess.run([uv, "pip", "install", "-q", "--python", str(target / "bin" / "python"), *reqs], env=env, check=True)
    return time.perf_counter() - started


def pip_environment() -> dict[str, str]:
    """pip with the sources uv gets: the registry plus the local wheel folder, not pip's extra local
    indexes (its config files are switched off; the certificate and find-links settings are kept)."""
    env = dict(os.environ)
    env["PIP_CONFIG_FILE"] = os.devnull
    env.pop("PIP_EXTRA_INDEX_URL", None)
    return env


def build_with_pip(target: Path, reqs: list[str], links: list[str], python: str) -> float:
    shutil.rmtree(target, ignore_errors=True)
    env = pip_environment()
    started = time.perf_counter()
    subprocess.run([python, "-m", "venv", str(target)], check=True, env=env)
    pip = [str(target / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, *(f"--find-links={link}" for link in links), *reqs], check=True, env=env)
    return time.perf_counter() - started


def env_benchmark(rounds: int) -> dict:
    matrix = load_matrix(DEFAULT_MATRIX)
    cell = next(c for c in matrix.cells if c.find_links)
    uv = envs.uv_executable()
    env = envs.uv_environment(cell)
    links = pip_find_links()
    python = shutil.which(f"python{cell.python}") or sys.executable
    reqs = locked_requirements(cell, uv, env)
    times: dict[str, list[float]] = {"uv": [], "pip": []}
    nox_dir = ROOT / ".nox" if (ROOT / ".nox").is_dir() else None
    with tempfile.TemporaryDirectory(prefix="bench-envs-", dir=nox_dir) as tmp:
        base = Path(tmp)
        print(f"warming caches: uv and pip each install {len(reqs)} packages once (cell {cell.id})", file=sys.stderr)
        build_with_uv(base / "uv", reqs, uv, env, python)
        build_with_pip(base / "pip", reqs, links, python)
        for _ in range(rounds):
            times["uv"].append(build_with_uv(base / "uv", reqs, uv, env, python))
            times["pip"].append(build_with_pip(base / "pip", reqs, links, python))
    best = {tool: min(values) for tool, values in times.items()}
    return {
        "cell": cell.id,
        "packages": len(reqs),
        "rounds": rounds,
        "seconds": times,
        "best_seconds": best,
        "pip_over_uv": best["pip"] / best["uv"],
        "method": "same locked requirement list, fresh venv per round, caches warmed by one untimed install each",
    }


def stage_times(cells_dir: Path) -> dict[str, dict[str, float]]:
    out = {}
    for path in sorted(cells_dir.glob("*.json")):
        try:
            result = CellResult.read(path)
        except Exception:  # noqa: BLE001 - a broken file is simply not in the table
            continue
        out[result.cell_id] = {"status": result.status, **result.stages}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_HARNESS_ROUNDS", "2")))
    parser.add_argument("--cells-dir", type=Path, default=ROOT / "reports" / "cells")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench" / "harness.json")
    args = parser.parse_args(argv)

    setup = env_benchmark(args.rounds)
    stages = stage_times(args.cells_dir)
    print(f"\ncell environment set-up ({setup['cell']}, {setup['packages']} packages, best of {setup['rounds']}, "
          "warm caches)")
    print(f"  {'tool':<6}{'seconds':>10}")
    for tool in ("uv", "pip"):
        print(f"  {tool:<6}{setup['best_seconds'][tool]:>10.1f}")
    worst = max(setup["seconds"]["pip"]) / max(setup["seconds"]["uv"])
    print(f"  pip / uv = {setup['pip_over_uv']:.1f}x (best rounds), {worst:.1f}x (worst rounds)")
    if stages:
        names = []
        for timings in stages.values():
            names += [k for k in timings if k not in ("status", "cell_process") and k not in names]
        names.append("cell_process")  # the whole child process, last
        print(f"\nper-cell stage seconds ({args.cells_dir})")
        print(f"  {'cell':<16}{'status':<10}" + "".join(f"{n[:12]:>13}" for n in names))
        for cell_id, timings in stages.items():
            row = "".join(f"{timings[n]:>13.1f}" if n in timings else f"{'-':>13}" for n in names)
            print(f"  {cell_id:<16}{timings['status']:<10}{row}")
    else:
        print(f"\nno cell results in {args.cells_dir}: run `nox -s matrix` for per-cell stage times")
    atomic.write_json(args.out, {"env_setup": setup, "stages": stages})
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
