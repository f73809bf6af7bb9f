"""The whole matrix with one cell at a time and with several, side by side in one run.

Each round is a real `alog-matrix run` (golden data, every cell, the runtime stage, report and gate) into
its own output and work folders, on warm venvs: every cell's and runtime's venv is built (or found)
first, untimed. Figures per round: wall time, the cells' and the runtime stage's seconds (from the run's
own lines), the peak memory of the whole process tree (summed RSS, sampled every 0.2 s) and the gate's
exit code; then the speed-up of each round over the first and whether every check and runtime outcome
has the same status in every round.

Writes reports/bench/jobs.json. Target: --jobs 2 at least 1.7x faster than --jobs 1 on two cores.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import child_env, matrix_run_command, read_report, statuses  # noqa: E402

from converter import atomic  # noqa: E402
from harness.config.matrix import DEFAULT_MATRIX, load_matrix  # noqa: E402
from harness.envs import venvs as envs  # noqa: E402


def tree_rss_kb(root: int) -> int:
    """Summed resident memory of ``root`` and all its descendants."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        pid, ppid = int(entry.name), int(fields.get("PPid", "0").strip())
        children.setdefault(ppid, []).append(pid)
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0])
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total


def one_round(matrix: Path, jobs: int, work: Path) -> dict:
    out, scratch = work / f"reports-jobs-{jobs}", work / f"work-jobs-{jobs}"
    cmd = matrix_run_command("--matrix", str(matrix), "--jobs", str(jobs), "--out", str(out),
                             "--work-root", str(scratch))
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=child_env())
    peak = [0]

    def sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_rss_kb(proc.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output = proc.communicate()[0]
    wall = time.monotonic() - started
    sampler.join()
    cells = re.search(r"cell\(s\) run in (\d+) s", output)
    runtimes = re.search(r"runtime stage in (\d+) s", output)
    doc = read_report(out)
    return {"jobs": jobs, "wall_s": round(wall, 1), "cells_s": int(cells.group(1)) if cells else None,
            "runtimes_s": int(runtimes.group(1)) if runtimes else None, "peak_rss_mb": round(peak[0] / 1024),
            "exit_code": proc.returncode, "verdict": (doc.get("verdict") or {}).get("line"), "statuses": statuses(doc),
            "last_line": (output.strip().splitlines() or ["(no output)"])[-1],
            "parity_s": {c["id"]: round(c.get("stages", {}).get("parity", 0.0), 1) for c in doc["cells"]}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--matrix", type=Path, default=DEFAULT_MATRIX)
    parser.add_argument("--jobs", default="1,2", help="the rounds, in order (default: 1,2)")
    args = parser.parse_args(argv)
    matrix = load_matrix(args.matrix)
    for spec in (*matrix.cells, *matrix.runtimes):  # warm: every venv exists before anything is timed
        envs.ensure_env(spec, envs.CELLS_ENV_DIR if spec in matrix.cells else envs.RUNTIMES_ENV_DIR)
    with tempfile.TemporaryDirectory(prefix="bench-jobs-") as tmp:
        rounds = [one_round(args.matrix.resolve(), int(jobs), Path(tmp)) for jobs in args.jobs.split(",")]
    first = rounds[0]
    # A round that gave no verdict (no evidence, a harness crash) or no statuses measured nothing to compare.
    broken = [r for r in rounds if r["exit_code"] not in (0, 1) or not r["statuses"]]
    for r in broken:
        print(f"bench_jobs: the --jobs {r['jobs']} round measured nothing (exit {r['exit_code']}, "
              f"{len(r['statuses'])} statuses): {r['last_line']}", file=sys.stderr)
    if broken:
        return 2
    print(f"Whole matrix, warm venvs ({len(matrix.cells)} cells, {len(matrix.runtimes)} runtimes; "
          f"{os.cpu_count()} cores)")
    for r in rounds:
        print(f"  --jobs {r['jobs']}: {r['wall_s']:7.1f} s wall ({r['cells_s']} s cells, {r['runtimes_s']} s "
              f"runtimes), peak {r['peak_rss_mb']:,} MB, {first['wall_s'] / r['wall_s']:.2f}x of --jobs "
              f"{first['jobs']}, exit {r['exit_code']}")
    for r in rounds:  # the largest stage of every cell, as each round measured it
        print(f"  parity stage, --jobs {r['jobs']}: " + ", ".join(f"{cell} {s} s" for cell, s in r["parity_s"].items()))
    same = all(r["statuses"] == first["statuses"] for r in rounds)
    print(f"  statuses identical in every round: {same} ({len(first['statuses'])} statuses)")
    result = {"rounds": [{k: v for k, v in r.items() if k != "statuses"} for r in rounds], "statuses_identical": same,
              "statuses": len(first["statuses"])}
    target = ROOT / "reports" / "bench" / "jobs.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_json(target, result)
    print(f"-> {target.relative_to(ROOT)}")
    return 0 if same and all(r["exit_code"] == first["exit_code"] for r in rounds) else 1


if __name__ == "__main__":
    from converter.errors import AlogError

    try:
        sys.exit(main())
    except AlogError as exc:
        sys.exit(f"bench_jobs: {exc}")
