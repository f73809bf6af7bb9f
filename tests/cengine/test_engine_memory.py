"""Memory checks beyond ASan: a valgrind memcheck run of a normal detection and of a refused input.
No memcheck error and no definite leak may involve the engine's code; the only suppressions are
for ONNX Runtime's and the dynamic loader's own frames (cengine/valgrind.supp)."""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET

import pytest

from harness.runtimes import engine as cengine


def memcheck(model_dir, log, ort_lib, xml_path):
    done = subprocess.run(
        ["make", "-s", "-C", str(cengine.CENGINE_DIR), "valgrind", f"VALGRIND_MODEL={model_dir}", f"VALGRIND_LOG={log}",
         f"VALGRIND_ORT_LIB={ort_lib}", f"VALGRIND_XML={xml_path}"],
        capture_output=True, text=True, timeout=900)
    root = ET.parse(xml_path).getroot()
    errors = []
    for error in root.findall("error"):
        frames = error.findall("./stack/frame")
        errors.append({
            "kind": error.findtext("kind"),
            "what": error.findtext("what") or error.findtext("./xwhat/text"),
            "in_engine": any(f.findtext("obj") == str(cengine.BINARIES["all"]) for f in frames),
        })
    return done, errors


@pytest.mark.slow
@pytest.mark.parametrize("case", ["detection", "refused vocab"])
def test_valgrind_memcheck(release_engine, copy_dir, loghub, ort_lib, tmp_path, case):
    model = copy_dir()
    log = tmp_path / "head.log"
    log.write_bytes(b"\n".join((loghub / "HDFS_2k.log").read_bytes().split(b"\n")[:300]))
    if case == "refused vocab":
        (model / "vocab.json").write_text('{"0": 1}')
    done, errors = memcheck(model, log, ort_lib, tmp_path / "memcheck.xml")
    ours = [e for e in errors if e["in_engine"]]
    assert not ours, f"memcheck errors in the engine's frames: {ours}"
    leaks = [e for e in errors if e["kind"].startswith("Leak_DefinitelyLost")]
    assert not leaks, f"definite leaks: {leaks}"
    # make's own exit: valgrind's --error-exitcode (99) fires on any unsuppressed error; the engine's
    # own exit code (0, or 3 for the refused vocab) otherwise.
    expected = "" if case == "detection" else "Error 3"
    assert ("Error 99" not in done.stderr) and (expected in done.stderr), done.stderr[-2000:]
    assert done.returncode == (0 if case == "detection" else 2), done.stderr[-2000:]
