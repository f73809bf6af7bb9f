"""Where an output goes: new paths and regular files are replaced atomically, devices and FIFOs are
written in place (never replaced), symlinks are followed, directories are refused, and every
file-system failure is one line naming the path. Each case runs the real CLI in a subprocess, as root
like CI, against the machine's real /dev/null and /dev/full."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

DEVICES = {Path("/dev/null"): (1, 3), Path("/dev/full"): (1, 7)}


def alog(*argv, umask: int | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    kwargs = {} if umask is None else {"umask": umask}
    return subprocess.run([sys.executable, "-m", "converter.cli", *map(str, argv)], capture_output=True, text=True,
                          timeout=timeout, **kwargs)


def one_line_error(done: subprocess.CompletedProcess, *needles: str) -> str:
    assert done.returncode == 1, done
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith("alog-detect") and ": error: " in lines[0], lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def is_device(path: Path, numbers: tuple[int, int]) -> bool:
    st = os.lstat(path)
    return stat.S_ISCHR(st.st_mode) and (os.major(st.st_rdev), os.minor(st.st_rdev)) == numbers


@pytest.fixture(autouse=True)
def devices_restored():
    """Whatever a failing test did to /dev/null or /dev/full, the machine gets them back."""
    yield
    for path, (major, minor) in DEVICES.items():
        if not is_device(path, (major, minor)):
            path.unlink(missing_ok=True)
            subprocess.run(["mknod", "-m", "666", str(path), "c", str(major), str(minor)], check=True)


@pytest.fixture(scope="module")
def small_log(loghub, tmp_path_factory) -> Path:
    """The first 200 lines of HDFS_2k: a few seconds to parse."""
    path = tmp_path_factory.mktemp("small") / "small.log"
    lines = (loghub / "HDFS_2k.log").read_bytes().splitlines(keepends=True)[:200]
    path.write_bytes(b"".join(lines))
    return path


@pytest.fixture(scope="module")
def expected_table(small_log, tmp_path_factory) -> pa.Table:
    out = tmp_path_factory.mktemp("expected") / "parsed.parquet"
    done = alog("parse", "--log", small_log, "--out", out)
    assert done.returncode == 0, done.stderr
    return pq.read_table(out)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_parse_into_dev_null_keeps_the_device(small_log):
    done = alog("parse", "--log", small_log, "--out", "/dev/null")
    assert done.returncode == 0, done.stderr
    assert is_device(Path("/dev/null"), DEVICES[Path("/dev/null")]), "/dev/null was replaced"
    assert not any(p.name.startswith(".null.") for p in Path("/dev").iterdir())  # no temporary beside it


def test_parse_into_dev_full_is_one_line_and_keeps_the_device(small_log):
    one_line_error(alog("parse", "--log", small_log, "--out", "/dev/full"), "/dev/full", "No space left on device")
    assert is_device(Path("/dev/full"), DEVICES[Path("/dev/full")]), "/dev/full was replaced"


def test_parse_into_a_fifo_streams_the_table_and_keeps_the_fifo(small_log, expected_table, tmp_path):
    fifo = tmp_path / "table.fifo"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    try:
        done = alog("parse", "--log", small_log, "--out", fifo, timeout=120)
        received, _ = reader.communicate(timeout=60)
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.wait()
    assert done.returncode == 0, done.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode), "the FIFO was replaced"
    assert pq.read_table(pa.BufferReader(received)).equals(expected_table)
    assert leftovers(tmp_path) == []


def test_parse_through_a_symlink_writes_where_it_points(small_log, expected_table, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "parsed.parquet").write_bytes(b"old content")
    link = tmp_path / "link.parquet"
    link.symlink_to(elsewhere / "parsed.parquet")
    dangling = tmp_path / "dangling.parquet"
    dangling.symlink_to(elsewhere / "new.parquet")
    to_null = tmp_path / "null.parquet"
    to_null.symlink_to("/dev/null")

    for path in (link, dangling, to_null):
        done = alog("parse", "--log", small_log, "--out", path)
        assert done.returncode == 0, done.stderr
        assert path.is_symlink(), f"{path.name} was replaced by a file"
    assert os.readlink(link) == str(elsewhere / "parsed.parquet")
    assert pq.read_table(elsewhere / "parsed.parquet").equals(expected_table)
    assert pq.read_table(elsewhere / "new.parquet").equals(expected_table)
    assert is_device(Path("/dev/null"), DEVICES[Path("/dev/null")])
    assert leftovers(tmp_path) == [] and leftovers(elsewhere) == []


def test_published_files_follow_the_umask(small_log, tmp_path):
    existing = tmp_path / "existing.parquet"
    existing.write_bytes(b"old")
    existing.chmod(0o600)
    for path in (tmp_path / "new.parquet", existing):
        done = alog("parse", "--log", small_log, "--out", path, umask=0o027)
        assert done.returncode == 0, done.stderr
        assert stat.S_IMODE(path.stat().st_mode) == 0o640, oct(path.stat().st_mode)


@pytest.fixture(scope="module")
def deeplog_inputs(small_log, tmp_path_factory) -> Path:
    """parsed.parquet, vocab.json and sequences.parquet of the small log."""
    work = tmp_path_factory.mktemp("inputs")
    for argv in (("parse", "--log", small_log, "--out", work / "parsed.parquet"),
                 ("build-deeplog", "--parsed", work / "parsed.parquet", "--out-dir", work, "--session-col", "none")):
        done = alog(*argv)
        assert done.returncode == 0, done.stderr
    return work


def test_a_directory_is_refused_naming_it(deeplog_inputs, tmp_path):
    folder = tmp_path / "folder"
    folder.mkdir()
    link = tmp_path / "link-to-folder"
    link.symlink_to(folder)
    for target in (folder, link):
        one_line_error(alog("deeplog-train", "--seq", deeplog_inputs / "sequences.parquet", "--vocab",
                            deeplog_inputs / "vocab.json", "--out", target, "--epochs", 1, "--hidden", 8, "--layers", 1),
                       f"output path {target} is a directory")
        one_line_error(alog("parse", "--log", deeplog_inputs / "parsed.parquet", "--out", target, "--format", "raw"),
                       f"{target} is a directory")
    assert list(folder.iterdir()) == [] and link.is_symlink()
