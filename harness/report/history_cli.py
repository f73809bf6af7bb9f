"""`alog-matrix history`: the runs recorded in ``<reports>/history`` and, for every row that moved, when it took
its present status and what its evidence key changed then."""

from __future__ import annotations

import argparse
from pathlib import Path

from converter.errors import AlogError
from harness.report import history


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("reports"),
                        help="the report folder whose history/ to read (default: reports)")
    parser.add_argument("--last", type=int, default=history.STRIP, metavar="N",
                        help=f"the runs each row's strip shows (default: {history.STRIP})")


def lines(records: list[dict], last: int) -> list[str]:
    out = [f"{len(records)} run(s), oldest first:"]
    for number, record in enumerate(records, start=1):
        counts = ", ".join(f"{n} {s}" for s, n in record.get("counts", {}).items())
        out.append(f"  run {number}  {record['generated']}  {record.get('commit') or 'no commit'}  "
                   f"{record['verdict']}  ({counts})")
    shown = history.view(records, last)
    first = len(records) - len(shown["runs"]) + 1
    if not shown["rows"]:
        return [*out, f"no row moved in runs {first}-{len(records)}, and none fails"]
    out.append(f"rows that moved or fail (runs {first}-{len(records)}, oldest first):")
    for row in shown["rows"]:
        strip = " ".join(s or "-" for s in row["strip"])
        said = f"{row['change']}; " if row["change"] else ""
        changed = "; ".join(row["key_changes"]) or "nothing in its evidence key"
        out.append(f"  {row['row']}: {strip}  ({said}{row['strip'][-1]} since run {row['since_run']}, "
                   f"{row['since']}, commit {row['since_commit'] or 'none'}: {changed})")
    return out


def run(args: argparse.Namespace) -> int:
    if args.last < 1:
        raise AlogError(f"--last {args.last}: want at least 1 run")
    records = history.load(args.out)
    if not records:
        raise AlogError(f"no run recorded in {args.out / history.FOLDER} (alog-matrix run records one per run)")
    print(f"alog-matrix history: {args.out / history.FOLDER}")
    for line in lines(records, args.last):
        print(line)
    return 0
