"""`alog-matrix run --resume` after a finished run: with nothing changed and with one cell's pin changed, side by side.

Three real runs into one output folder, on warm venvs (every cell's and runtime's venv is built or found
first, untimed, as bench_jobs.py does): the full run; --resume with nothing changed; --resume of a copy of
the matrix in which one cell (--cell) has one more companion pin (--pin), its venv built beforehand,
untimed. Figures: wall seconds and exit codes, which cells and runtimes each resume ran again (their result
files rewritten) and which it kept, what the report's evidence fields say where it has them, and whether
every check and runtime outcome has the same status after the nothing-changed resume as after the full run.

Writes reports/bench/resume.json. Targets: a resume with nothing changed takes <= 10 s and <= 1/10 of the
full run.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import child_env, matrix_run_command, read_report, statuses  # noqa: E402

from converter import atomic  # noqa: E402
from converter.errors import AlogError  # noqa: E402
from harness.config.matrix import DEFAULT_MATRIX, Matrix, load_matrix  # noqa: E402
from harness.envs import venvs as envs  # noqa: E402
from harness.ground.paths import state_for  # noqa: E402

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

TARGET_S, TARGET_SHARE = 10.0, 0.1
NO_EVIDENCE = "n/a (report has no evidence field)"
# An upper bound every release meets: the cell's spec changes, the packages it installs do not, so the
# rerun cell's outcomes can only differ by what the rerun itself does.
DEFAULT_PIN = "packaging=<99"


def result_stamps(out: Path, matrix: Matrix) -> dict[str, int]:
    """When each cell's and runtime's result file was last written: a resume that keeps one leaves it alone."""
    files = {f"cell {c.id}": out / "cells" / f"{c.id}.json" for c in matrix.cells}
    files.update({f"runtime {r.id}": out / "runtimes" / f"{r.id}.json" for r in matrix.runtimes})
    return {name: path.stat().st_mtime_ns for name, path in files.items() if path.is_file()}


def evidence(doc: dict) -> dict | None:
    """The report's own word on what was reused (cells and runtimes), or None on a report without it."""
    found = {"cells": {c["id"]: c["evidence"] for c in doc.get("cells", []) if "evidence" in c},
             "runtimes": {r["id"]: r["evidence"] for r in doc.get("runtimes", []) if "evidence" in r}}
    return found if found["cells"] or found["runtimes"] else None


def one_run(name: str, matrix: Matrix, out: Path, args: list[str]) -> dict:
    before = result_stamps(out, matrix)
    started = time.monotonic()
    proc = subprocess.run(matrix_run_command("--matrix", str(matrix.path), "--out", str(out), *args), cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=child_env(), check=False)
    wall = time.monotonic() - started
    after, doc = result_stamps(out, matrix), read_report(out)
    said = evidence(doc)
    if said is not None:  # the report's own word: a reused record is rewritten with its decision, so mtimes lie
        rerun = [f"cell {c}" for c, e in said["cells"].items() if not (e or {}).get("reused")]
        rerun += [f"runtime {r} ({e['rerun']} of {e['rerun'] + e['reused']} artifacts)"
                  for r, e in said["runtimes"].items() if e and e.get("rerun")]
        kept = [f"cell {c}" for c, e in said["cells"].items() if (e or {}).get("reused")]
        kept += [f"runtime {r}" for r, e in said["runtimes"].items() if e and not e.get("rerun")]
    else:
        rerun = [k for k in after if before.get(k) != after[k]]  # in matrix order, as the report lists them
        kept = [k for k in after if before.get(k) == after[k]]
    return {"run": name, "wall_s": round(wall, 1), "exit_code": proc.returncode, "statuses": statuses(doc),
            "rerun": rerun, "kept": kept, "evidence": said,
            # what failed, kept in resume.json: the run's folder is removed afterwards
            "findings": [m for m in (doc.get("verdict") or {}).get("messages", [])
                         if not m.startswith(("ALERT", "CHANGE"))][:20],
            "last_line": (proc.stdout.strip().splitlines() or ["(no output)"])[-1]}


def cell_line(lines: list[str], cell_id: str) -> int:
    """Where [[cell]] ``cell_id`` says its id."""
    table = None
    for index, line in enumerate(lines):
        header = re.match(r"\s*\[\[?([\w.]+)", line)
        table = header.group(1) if header else table
        if table == "cell" and re.match(rf'\s*id\s*=\s*"{re.escape(cell_id)}"', line):
            return index
    raise AlogError(f"no [[cell]] with id {cell_id!r} in the matrix text")


def add_pin(text: str, cell_id: str, name: str, spec: str) -> str:
    """``name = "spec"`` added to [[cell]] ``cell_id``: into its inline pins table, else as a new pins line."""
    lines = text.splitlines(keepends=True)
    index = cell_line(lines, cell_id)
    for later in range(index + 1, len(lines)):
        if lines[later].lstrip().startswith("["):
            break
        if re.match(r"\s*pins\s*=\s*\{", lines[later]):
            lines[later] = lines[later].replace("{", f'{{ {name} = "{spec}",', 1)
            return "".join(lines)
    lines.insert(index + 1, f'pins = {{ {name} = "{spec}" }}\n')
    return "".join(lines)


def strings(node) -> list[str]:
    if isinstance(node, dict):
        return [s for value in node.values() for s in strings(value)]
    if isinstance(node, list):
        return [s for value in node for s in strings(value)]
    return [node] if isinstance(node, str) else []


def changed_copy(matrix: Matrix, cell_id: str, pin: tuple[str, str], folder: Path) -> Matrix:
    """The matrix with one more pin on one cell, written in ``folder``. Each relative path the file names
    (a log, checkpoints) is linked beside the copy, so it resolves to the very file the original names."""
    text = add_pin(matrix.path.read_text(encoding="utf-8"), cell_id, *pin)
    relative = [Path(os.path.normpath(s)) for s in strings(tomllib.loads(text))
                if s.strip() and not Path(s).is_absolute() and (matrix.path.parent / s).exists()]
    relative = [p for p in relative if p.parts and p.parts != ("..",) * len(p.parts)]  # not the folder itself
    ups = max([p.parts.count("..") for p in relative], default=0)  # normalized: every ".." leads
    home = folder.joinpath(*["m"] * ups)  # deep enough that "../x" stays inside the folder
    home.mkdir(parents=True, exist_ok=True)
    for path in relative:
        first = Path(*path.parts[:path.parts.count("..") + 1])  # link the top folder: all below follows
        link = Path(os.path.normpath(home / first))
        if not os.path.lexists(link):
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to((matrix.path.parent / first).resolve())
    copy = home / matrix.path.name
    copy.write_text(text, encoding="utf-8")
    changed = load_matrix(copy)
    wanted = {**matrix.cell(cell_id).pins, pin[0]: pin[1]}
    others_same = [c for c in changed.cells if c.id != cell_id] == [c for c in matrix.cells if c.id != cell_id]
    if changed.cell(cell_id).pins != wanted or not others_same or changed.runtimes != matrix.runtimes:
        raise AlogError(f"the copy {copy} differs from the matrix by more or less than the one pin "
                        "(write the cell's pins inline)")
    return changed


def env_root_for(changed: Matrix, cell_id: str, warm_root: Path, folder: Path) -> Path:
    """A cell-venv folder holding the changed cell's own venv (built here, untimed) and links to every other
    cell's warm one: the shared venv of that cell stays as the matrix file wants it."""
    root = folder / "cells"
    root.mkdir()
    for cell in changed.cells:
        if cell.id != cell_id:
            (root / cell.id).symlink_to(envs.env_path(cell, warm_root))
    envs.ensure_env(changed.cell(cell_id), root)
    return root


def status_differences(a: dict[str, str], b: dict[str, str]) -> int:
    return sum(a.get(key) != b.get(key) for key in a.keys() | b.keys())


def show(run: dict, full: dict) -> None:
    print(f"  {run['run']}: {run['wall_s']:.1f} s wall, exit {run['exit_code']}, "
          f"{run['wall_s'] / full['wall_s']:.3f} of the full run")
    for finding in run["findings"][:3] if run["exit_code"] else []:
        print(f"    gate: {finding[:200]}")
    print(f"    ran again: {', '.join(run['rerun']) or 'nothing'}")
    print(f"    kept: {', '.join(run['kept']) or 'nothing'}")
    if run["evidence"] is None:
        print(f"    evidence: {NO_EVIDENCE}")
        return
    for cell, ev in run["evidence"]["cells"].items():
        print(f"    evidence {cell}: {'reused' if ev.get('reused') else 'rerun'} ({ev.get('reason')})")
    for runtime, ev in run["evidence"]["runtimes"].items():
        print(f"    evidence {runtime}: {ev.get('reused')} artifacts reused, {ev.get('rerun')} rerun")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--matrix", type=Path, default=DEFAULT_MATRIX)
    parser.add_argument("--cell", default=None,
                        help="the cell whose pin changes (default: torch-2.15.0, else the last cell)")
    parser.add_argument("--pin", default=DEFAULT_PIN, help=f"NAME=SPEC added to that cell (default: {DEFAULT_PIN})")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the output, work and matrix-copy folders")
    args = parser.parse_args(argv)
    matrix = load_matrix(args.matrix.resolve())
    cell_id = args.cell or next((c.id for c in matrix.cells if c.id == "torch-2.15.0"), matrix.cells[-1].id)
    pin = tuple(args.pin.split("=", 1))
    if len(pin) != 2 or pin[0] in matrix.cell(cell_id).pins:
        raise AlogError(f"--pin {args.pin}: want NAME=SPEC with a package cell {cell_id} does not pin yet")
    state = state_for(matrix.path)
    for spec in (*matrix.cells, *matrix.runtimes):  # warm: every venv exists before anything is timed
        envs.ensure_env(spec, state.cell_envs if spec in matrix.cells else state.runtime_envs)
    state.root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench-resume-", dir=state.root))  # beside the venvs: uv hard-links there
    try:
        out, common = tmp / "reports", ["--work-root", str(tmp / "work"), "--state-dir", str(state.root),
                                        "--jobs", str(args.jobs)]
        full = one_run("full run", matrix, out, common)
        same = one_run("resume, nothing changed", matrix, out, [*common, "--resume"])
        changed = changed_copy(matrix, cell_id, pin, tmp / "matrix")
        env_root = env_root_for(changed, cell_id, state.cell_envs, tmp)
        pinned = one_run(f"resume, {cell_id} with {pin[0]}{pin[1]}", changed, out,
                         [*common, "--resume", "--env-root", str(env_root)])
    finally:
        if args.keep:
            print(f"kept: {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    broken = [r for r in (full, same, pinned) if r["exit_code"] not in (0, 1) or not r["statuses"]]
    for r in broken:
        print(f"bench_resume: {r['run']} measured nothing (exit {r['exit_code']}, {len(r['statuses'])} statuses): "
              f"{r['last_line']}", file=sys.stderr)
    if broken:
        return 2
    differences = status_differences(full["statuses"], same["statuses"])
    targets = {"within_10_s": same["wall_s"] <= TARGET_S,
               "within_tenth": same["wall_s"] <= TARGET_SHARE * full["wall_s"]}
    print(f"Resume of a finished run, warm venvs ({len(matrix.cells)} cells, {len(matrix.runtimes)} runtimes; "
          f"{os.cpu_count()} cores, --jobs {args.jobs})")
    print(f"  full run: {full['wall_s']:.1f} s wall, exit {full['exit_code']}")
    for run in (same, pinned):
        show(run, full)
    changed_rerun = f"cell {cell_id}" in pinned["rerun"]  # else its kept result predates the pin
    print(f"  the changed cell ran again: {'yes' if changed_rerun else 'NO (its result from before the pin was kept)'}")
    print(f"  target, nothing changed <= {TARGET_S:g} s: {'met' if targets['within_10_s'] else 'NOT met'}; "
          f"<= 1/10 of the full run: {'met' if targets['within_tenth'] else 'NOT met'}")
    print(f"  statuses, full run vs resume with nothing changed: {differences} differences "
          f"({len(full['statuses'])} statuses)")
    result = {"runs": [{k: v for k, v in r.items() if k != "statuses"} for r in (full, same, pinned)],
              "targets": targets, "status_differences": differences, "statuses": len(full["statuses"]),
              "cell": cell_id, "pin": "".join(pin), "changed_cell_rerun": changed_rerun}
    target = ROOT / "reports" / "bench" / "resume.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_json(target, result)
    print(f"-> {target.relative_to(ROOT)}")
    return 0 if differences == 0 and same["exit_code"] == full["exit_code"] else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except AlogError as exc:
        sys.exit(f"bench_resume: {exc}")
