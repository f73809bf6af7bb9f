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
    table = pq.read_table(work / "parsed.parquet").to_pandas()  # a vocab keyed by cluster ids, for fix-vocab
    pairs = table[["template_id", "template"]].drop_duplicates().sort_values("template_id")
    (work / "ids-vocab.json").write_text(
        "{" + ", ".join(f'"{int(cid)}": {i}' for i, cid in enumerate(pairs["template_id"])) + "}")
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
        one_line_error(alog("fix-vocab", "--parsed", deeplog_inputs / "parsed.parquet", "--old-vocab",
                            deeplog_inputs / "ids-vocab.json", "--output", target), f"output path {target} is a directory")
    assert list(folder.iterdir()) == [] and link.is_symlink()


# --- every output of the CLI, and the file-system failures it meets -------------------------------

@pytest.fixture(scope="module")
def models(deeplog_inputs, small_log) -> Path:
    """Tiny DeepLog and MSCRED checkpoints trained by the CLI, and the MSCRED signatures."""
    work = deeplog_inputs
    (work / "small.log").write_bytes(small_log.read_bytes())
    for argv in (("deeplog-train", "--seq", work / "sequences.parquet", "--vocab", work / "vocab.json",
                  "--out", work / "deeplog.pth", "--epochs", 1, "--hidden", 8, "--layers", 1),
                 ("build-mscred", "--parsed", work / "parsed.parquet", "--out-dir", work, "--scales", "2,4", "--step", 2),
                 ("mscred-train", "--signatures", work / "signatures.npz", "--out", work / "mscred.pth", "--epochs", 1)):
        done = alog(*argv)
        assert done.returncode == 0, done.stderr
    return work


def writer_argv(name: str, work: Path, target: Path, folder: Path) -> tuple[list, Path]:
    """(argv, the path an error must name) for each CLI command writing ``target``; output folders of
    the commands that write one go under ``folder``, with a symlink to ``target`` in them."""
    if name == "build-deeplog":  # a folder of outputs: its vocab.json is the node under test
        out = folder / "deeplog-out"
        out.mkdir()
        (out / "vocab.json").symlink_to(target)
        return ["build-deeplog", "--parsed", work / "parsed.parquet", "--out-dir", out, "--session-col", "none"], out / "vocab.json"
    if name == "build-mscred":
        out = folder / "mscred-out"
        out.mkdir()
        (out / "signatures.npz").symlink_to(target)
        return ["build-mscred", "--parsed", work / "parsed.parquet", "--out-dir", out, "--scales", "2,4", "--step", 2], \
            out / "signatures.npz"
    if name == "convert-onnx":
        out = folder / "model-out"
        out.mkdir()
        (out / "deeplog.onnx").symlink_to(target)
        return ["convert-onnx", "--deeplog-model", work / "deeplog.pth", "--vocab", work / "vocab.json",
                "--output-dir", out, "--exporter", "legacy"], out / "deeplog.onnx"
    argv = {
        "parse": ["parse", "--log", work / "small.log", "--out"],
        "deeplog-train": ["deeplog-train", "--seq", work / "sequences.parquet", "--vocab", work / "vocab.json",
                          "--epochs", 1, "--hidden", 8, "--layers", 1, "--out"],
        "mscred-train": ["mscred-train", "--signatures", work / "signatures.npz", "--epochs", 1, "--out"],
        "fix-vocab": ["fix-vocab", "--parsed", work / "parsed.parquet", "--old-vocab", work / "ids-vocab.json", "--output"],
    }[name]
    return [*argv, target], target


WRITERS = ("parse", "build-deeplog", "deeplog-train", "build-mscred", "mscred-train", "fix-vocab", "convert-onnx")


@pytest.mark.parametrize("name", WRITERS)
def test_every_output_writes_into_dev_null_and_reports_dev_full(models, tmp_path, name):
    for device in DEVICES:
        folder = tmp_path / device.name
        folder.mkdir()
        argv, named = writer_argv(name, models, device, folder)
        done = alog(*argv)
        if device.name == "null":
            assert done.returncode == 0, done.stderr
        else:
            lines = done.stderr.strip().splitlines()  # the training commands print a line per epoch first
            assert all(line.startswith(f"{name}: epoch ") for line in lines[:-1]), done.stderr
            one_line_error(subprocess.CompletedProcess(done.args, done.returncode, done.stdout, lines[-1]),
                           f"cannot write {named}: No space left on device")
        assert is_device(device, DEVICES[device]), f"{name} replaced {device}"
        for out in folder.iterdir():
            assert leftovers(out) == [], f"{name} left {leftovers(out)} in {out}"


def test_convert_writes_through_symlinks(models, tmp_path):
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "deeplog.onnx").symlink_to(elsewhere / "deeplog.onnx")
    (out / "vocab.json").symlink_to(elsewhere / "vocab.json")
    (elsewhere / "vocab.json").write_text("old")
    done = alog("convert-onnx", "--deeplog-model", models / "deeplog.pth", "--vocab", models / "vocab.json",
                "--output-dir", out, "--exporter", "legacy")
    assert done.returncode == 0, done.stderr
    assert (out / "deeplog.onnx").is_symlink() and (out / "vocab.json").is_symlink()
    import onnx

    onnx.checker.check_model(onnx.load(str(elsewhere / "deeplog.onnx")))
    assert (elsewhere / "vocab.json").read_text().startswith("{")
    assert sorted(p.name for p in out.iterdir()) == ["deeplog.onnx", "deeplog.onnx.meta.json", "vocab.json"]


def in_own_mounts(setup: str, argv: list, listing: Path) -> subprocess.CompletedProcess:
    """The CLI in a private mount namespace: ``setup`` mounts there, the mounts vanish with the process.
    stdout is ``ls -A listing`` taken inside, after the CLI ran (the CLI itself prints nothing there)."""
    script = f'{setup} || exit 99; "$@"; rc=$?; ls -A "{listing}"; exit $rc'
    return subprocess.run(["unshare", "--mount", "sh", "-c", script, "sh", sys.executable, "-m", "converter.cli",
                           *map(str, argv)], capture_output=True, text=True, timeout=600)


def test_convert_into_a_read_only_folder_keeps_the_old_artifacts(models, tmp_path):
    out = tmp_path / "out"
    argv = ["convert-onnx", "--deeplog-model", models / "deeplog.pth", "--vocab", models / "vocab.json",
            "--output-dir", out, "--exporter", "legacy"]
    assert alog(*argv).returncode == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    done = in_own_mounts(f'mount --bind "{out}" "{out}" && mount -o remount,bind,ro "{out}"', argv, out)
    one_line_error(done, f"cannot write to output directory {out}: Read-only file system")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_full_folder_is_one_line_and_leaves_nothing(models, tmp_path):
    full = tmp_path / "full"
    full.mkdir()
    setup = f'mount -t tmpfs -o size=64k tmpfs "{full}" && {{ cat /dev/zero > "{full}/filler" 2>/dev/null; true; }}'
    convert = in_own_mounts(setup, ["convert-onnx", "--deeplog-model", models / "deeplog.pth", "--vocab",
                                    models / "vocab.json", "--output-dir", full, "--exporter", "legacy"], full)
    one_line_error(convert, f"cannot write to output directory {full}", "No space left on device")
    assert convert.stdout.split() == ["filler"]  # no pending file, no export folder
    train = in_own_mounts(setup, ["deeplog-train", "--seq", models / "sequences.parquet", "--vocab", models / "vocab.json",
                                  "--epochs", 1, "--hidden", 8, "--layers", 1, "--out", full / "deeplog.pth"], full)
    lines = train.stderr.strip().splitlines()
    assert train.returncode == 1 and "Traceback" not in train.stderr, train.stderr
    assert [line.split(":")[0] for line in lines[:-1]] == ["deeplog-train"], train.stderr  # its one epoch line
    assert lines[-1] == f"alog-detect deeplog-train: error: cannot write {full / 'deeplog.pth'}: No space left on device"
    assert train.stdout.split() == ["filler"]


def test_an_output_folder_under_a_file_is_one_line(models, tmp_path):
    (tmp_path / "file").write_text("x")
    one_line_error(alog("convert-onnx", "--deeplog-model", models / "deeplog.pth", "--vocab", models / "vocab.json",
                        "--output-dir", tmp_path / "file" / "out"),
                   f"cannot write to output directory {tmp_path / 'file' / 'out'}: Not a directory")
