"""Detection mode: the engine's verdicts equal the Python reference detector's, line for line, on
the real Loghub samples with real artifacts of every export strategy, and on generated logs that
stress the matcher (wildcards, whitespace, invalid UTF-8)."""

from __future__ import annotations

import json
import os
import selectors
import shutil
import subprocess
import sys
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from converter.detection import detect_file, detect_lines, load_model_dir, ort_predict, read_log

STRATEGIES = ("legacy", "dynamo", "auto")


def verdicts(result) -> list[dict]:
    return [json.loads(line) for line in result.lines]


@pytest.mark.parametrize("dataset", ["HDFS", "BGL"])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_verdicts_equal_reference_on_loghub(engine, model_dir, loghub, dataset, strategy):
    directory = model_dir(dataset, strategy)
    log = loghub / f"{dataset}_2k.log"
    got = verdicts(engine.run(directory, "--log", log))
    expected = detect_file(log, directory)
    assert len(got) == len(expected) == sum(1 for l in read_log(log) if l.strip())
    for g, e in zip(got, expected):
        assert g == e, f"line {e['line']}: engine {g} != reference {e}"
    reasons = Counter(r["reason"] for r in got)
    # A real check, not a vacuous one: windows were scored and both outcomes can occur.
    assert reasons["warmup"] >= 1 and reasons["in_top_g"] + reasons["not_in_top_g"] > 1000, reasons


@pytest.mark.parametrize("top_g", [0, 1, 3, 1000])
def test_top_g_override(release_engine, hdfs_dir, loghub, top_g):
    log = loghub / "HDFS_2k.log"
    got = verdicts(release_engine.run(hdfs_dir, "--log", log, "--top-g", top_g))
    assert got == detect_file(log, hdfs_dir, top_g=top_g)
    scored = [r for r in got if r["rank"] is not None]
    if top_g == 0:
        assert all(r["verdict"] == "anomaly" for r in scored)
    if top_g == 1000:
        assert all(r["verdict"] == "normal" for r in scored)


def test_batch_size_and_window_cache_do_not_change_verdicts(release_engine, hdfs_dir, loghub):
    """With --no-cache the engine's batches are exactly the reference's; with the cache (default)
    distinct windows are batched together. Both must give the reference's verdicts."""
    log = loghub / "HDFS_2k.log"
    model = load_model_dir(hdfs_dir)
    predict = model.predict()
    for batch in (1, 7, 256, 5000):
        reference = detect_lines(read_log(log), model.engine_vocab, model.header_fields, model.seq_len, model.top_g,
                                 predict, batch=batch)
        assert verdicts(release_engine.run(hdfs_dir, "--log", log, "--batch", batch, "--no-cache")) == reference
        assert verdicts(release_engine.run(hdfs_dir, "--log", log, "--batch", batch)) == reference


def test_stdin_and_text_format(release_engine, hdfs_dir, loghub):
    log = loghub / "HDFS_2k.log"
    from_file = verdicts(release_engine.run(hdfs_dir, "--log", log))
    assert verdicts(release_engine.run(hdfs_dir, stdin=log.read_bytes())) == from_file
    assert verdicts(release_engine.run(hdfs_dir, "--log", "-", stdin=log.read_bytes())) == from_file
    text = release_engine.run(hdfs_dir, "--log", log, "--format", "text").lines
    assert len(text) == len(from_file)
    for line, record in zip(text, from_file):
        fields = line.split()
        assert fields[0] == str(record["line"]) and fields[1] == record["verdict"] and fields[2] == record["reason"]
        assert fields[3] == f"template={record['template'] if record['template'] is not None else '-'}"
        assert fields[4] == f"rank={record['rank'] if record['rank'] is not None else '-'}"


VERDICT_WAIT = 60  # seconds to wait for one verdict: generous, this is not a timing check


def start_detection(engine, model_dir, stdin, *options) -> subprocess.Popen:
    """The engine reading its standard input (a pipe), writing verdicts to a pipe of ours."""
    return subprocess.Popen([str(engine.path), str(model_dir), "--log", "-", "--ort-lib", str(engine.ort_lib),
                             *options], stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, **engine.env})


class VerdictReader:
    """Verdicts read from a running engine's output as they come, each wait bounded by VERDICT_WAIT."""

    def __init__(self, proc: subprocess.Popen):
        self.proc, self.pending = proc, b""
        self.selector = selectors.DefaultSelector()
        self.selector.register(proc.stdout, selectors.EVENT_READ)

    def take(self, count: int, what: str) -> list[dict]:
        taken = []
        while len(taken) < count:
            while b"\n" not in self.pending:
                assert self.selector.select(timeout=VERDICT_WAIT), \
                    f"no verdict for {what} within {VERDICT_WAIT} s while the pipe was open"
                chunk = os.read(self.proc.stdout.fileno(), 1 << 16)
                assert chunk, f"the engine closed its output before {what}: {self.proc.stderr.read()!r}"
                self.pending += chunk
            line, self.pending = self.pending.split(b"\n", 1)
            taken.append(json.loads(line))
        return taken


@pytest.mark.parametrize("options", [[], ["--batch", "1"], ["--no-cache"]], ids=["default", "batch-1", "no-cache"])
def test_live_pipe_gets_each_verdict_while_the_pipe_is_open(engine, hdfs_dir, loghub, tmp_path, options):
    """`tail -f app.log | inference_engine MODEL_DIR`: a real log written into a pipe line by line;
    each non-blank line's verdict must come out before the next line is written (whatever the
    batch size), and the whole output must equal the file-mode output and the reference."""
    real = (loghub / "HDFS_2k.log").read_bytes().split(b"\n")[:40]
    lines = real[:15] + [b"", b"   ", b"no such template"] + real[15:]
    proc = start_detection(engine, hdfs_dir, subprocess.PIPE, *options)
    reader, streamed = VerdictReader(proc), []
    try:
        for number, line in enumerate(lines, start=1):
            proc.stdin.write(line + b"\n")
            proc.stdin.flush()
            if line.strip():
                streamed += reader.take(1, f"line {number}")
                assert reader.pending == b"", f"more than one verdict after line {number}"
                assert streamed[-1]["line"] == number
        proc.stdin.close()
        rest, stderr = proc.stdout.read(), proc.stderr.read()
        assert proc.wait(timeout=VERDICT_WAIT) == 0 and stderr == b"" and rest == b"", (proc.returncode, stderr)
    finally:
        proc.kill()
        proc.wait()
    log = tmp_path / "live.log"
    log.write_bytes(b"\n".join(lines) + b"\n")
    assert streamed == verdicts(engine.run(hdfs_dir, "--log", log, *options)) == detect_file(log, hdfs_dir)
    assert {r["reason"] for r in streamed} >= {"warmup", "unknown_template", "in_top_g"}


def test_non_blocking_standard_input_is_waited_on(engine, hdfs_dir, loghub, tmp_path):
    """A pipe whose writer made it non-blocking (O_NONBLOCK is shared by everyone holding it): once
    the first half of a log is scored, the engine waits on the empty pipe for the rest instead of
    taking EAGAIN for a read error, and gives the file-mode verdicts."""
    real = (loghub / "HDFS_2k.log").read_bytes().split(b"\n")[:40]
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    proc = start_detection(engine, hdfs_dir, read_end)
    os.close(read_end)
    try:
        os.write(write_end, b"\n".join(real[:20]) + b"\n")
        streamed = VerdictReader(proc).take(20, "the first 20 lines")
        os.write(write_end, b"\n".join(real[20:]) + b"\n")
        os.close(write_end)
        write_end = -1
        rest, stderr = proc.communicate(timeout=VERDICT_WAIT)
    finally:
        if write_end >= 0:
            os.close(write_end)
        proc.kill()
        proc.wait()
    assert proc.returncode == 0 and stderr == b"", stderr
    log = tmp_path / "half.log"
    log.write_bytes(b"\n".join(real) + b"\n")
    assert streamed + [json.loads(l) for l in rest.splitlines()] == verdicts(engine.run(hdfs_dir, "--log", log))


def test_live_input_still_open_when_the_output_fails(engine, hdfs_dir, loghub):
    """The reader of the engine's output goes away while its input pipe stays open: the next verdict
    fails to be written and the engine exits 5 at once, without waiting for the input to end."""
    real = (loghub / "HDFS_2k.log").read_bytes().split(b"\n")[:30]
    proc = start_detection(engine, hdfs_dir, subprocess.PIPE)
    try:
        proc.stdin.write(real[0] + b"\n")
        proc.stdin.flush()
        assert VerdictReader(proc).take(1, "line 1")[0]["line"] == 1
        proc.stdout.close()
        try:
            for line in real[1:]:
                proc.stdin.write(line + b"\n")
                proc.stdin.flush()
        except BrokenPipeError:
            pass  # the engine is already gone
        assert proc.wait(timeout=VERDICT_WAIT) == 5
        assert proc.stderr.read().decode().startswith("inference_engine: cannot write the output")
    finally:
        proc.kill()
        proc.wait()


def test_bench_match_counts_what_the_reference_matches(engine, hdfs_dir, loghub, tmp_path):
    """--bench-match times matching alone (no model, no ONNX Runtime): it reports every non-blank
    line of the log and how many found a template, the reference's counts."""
    real = (loghub / "HDFS_2k.log").read_bytes().split(b"\n")[:300]
    lines = real[:100] + [b"", b"a b c d e no template says this"] * 40 + real[100:]
    log = tmp_path / "mixed.log"
    log.write_bytes(b"\n".join(lines))
    report = json.loads(engine.run(hdfs_dir, "--bench-match", log, ort_lib=False,
                                   env={"ORT_LIB": str(tmp_path / "no-onnxruntime.so")}).stdout)
    expected = detect_file(log, hdfs_dir)
    assert report["templates"] == len(load_model_dir(hdfs_dir).engine_vocab)
    assert report["lines"] == len(expected) == 340
    assert report["matched"] == sum(r["template"] is not None for r in expected) == 300
    assert report["seconds"] > 0 and report["lines_per_s"] > 0


def test_through_the_wrapper(hdfs_dir, loghub):
    from harness.runtimes.engine import run_detect

    log = loghub / "HDFS_2k.log"
    assert run_detect(hdfs_dir, log, top_g=5) == detect_file(log, hdfs_dir, top_g=5)
    assert run_detect(hdfs_dir, log, opt_level="disabled") == detect_file(log, hdfs_dir)


def test_awkward_but_valid_logs(engine, hdfs_dir, loghub, tmp_path):
    """Blank lines, CRLF, non-UTF-8 bytes, NUL bytes, header-only lines and a 1 MiB line all get
    the reference's verdicts, with physical line numbers."""
    real = (loghub / "HDFS_2k.log").read_bytes().split(b"\n")[:40]
    lines = real[:12] + [
        b"", b"   \t ", real[12] + b"\r", b"081109 203615 148 INFO dfs.DataNode$PacketResponder:",
        b"081109 203615 148 INFO", b"081109 \xff\xfe 148 INFO dfs.DataNode: caf\xc3\xa9 \xe2\x82 \xed\xa0\x80 \x00 end",
        real[13].replace(b"blk_", b"blk_\xff"), b"x" * (1 << 20) + b" " + real[14],
        real[15][:20] + b"y" * (1 << 20), *real[16:],
    ]
    log = tmp_path / "awkward.log"
    log.write_bytes(b"\n".join(lines))
    got = verdicts(engine.run(hdfs_dir, "--log", log))
    assert got == detect_file(log, hdfs_dir)
    numbers = [r["line"] for r in got]
    assert 13 not in numbers and 14 not in numbers, "blank lines are skipped"
    assert numbers[-1] == len(lines)


@pytest.fixture(scope="module")
def nul_model(loghub, tmp_path_factory):
    """A real OpenSSH log with NUL bytes injected into constant words and into process names, parsed
    with --format raw, trained briefly and converted with the project's own commands, so that its
    vocab.json holds templates with NULs (written as \\u0000)."""
    work = tmp_path_factory.mktemp("nul")
    lines = (loghub / "OpenSSH_2k.log").read_bytes().split(b"\n")[:400]
    for i, line in enumerate(lines):
        line = line.replace(b"Invalid user", b"Invalid\x00user").replace(b"Failed password", b"Failed password\x00")
        lines[i] = line.replace(b"sshd[", b"ss\x00hd[", 1) if i % 7 == 3 else line
    log = work / "nul.log"
    log.write_bytes(b"\n".join(lines) + b"\n")
    steps = [
        ["parse", "--log", log, "--out", work / "parsed.parquet", "--format", "raw"],
        ["build-deeplog", "--parsed", work / "parsed.parquet", "--out-dir", work / "d", "--window", "5"],
        ["deeplog-train", "--seq", work / "d/sequences.parquet", "--vocab", work / "d/vocab.json",
         "--out", work / "d/deeplog.pth", "--epochs", "1", "--hidden", "16", "--layers", "1"],
        ["convert-onnx", "--deeplog-model", work / "d/deeplog.pth", "--vocab", work / "d/vocab.json",
         "--output-dir", work / "model"],
    ]
    for step in steps:
        done = subprocess.run([sys.executable, "-m", "converter.cli", *map(str, step)], capture_output=True, text=True)
        assert done.returncode == 0, f"alog-detect {step[0]} failed: {done.stderr.strip()}"
    return log, work / "model"


def test_templates_holding_nul_bytes(engine, nul_model):
    """A template holding a NUL is carried through whole (cJSON's own strings end at it): the engine
    matches lines against the full template, as the reference does."""
    log, directory = nul_model
    vocab = json.loads((directory / "vocab.json").read_text(encoding="utf-8"))
    with_nul = {int(k) for k, t in vocab.items() if "\x00" in t}
    assert with_nul, "the parse kept no NUL in any template"
    got = verdicts(engine.run(directory, "--log", log))
    assert got == detect_file(log, directory)
    assert sum(r["template"] in with_nul for r in got) > 50, "few lines matched a template holding a NUL"


def test_empty_and_blank_logs_give_no_output(engine, hdfs_dir, tmp_path):
    for name, data in {"empty.log": b"", "blank.log": b"\n\n  \n\t\n"}.items():
        (tmp_path / name).write_bytes(data)
        result = engine.run(hdfs_dir, "--log", tmp_path / name)
        assert result.code == 0 and result.stdout == b""


# --- generated logs: the engine's matcher against converter.matching, byte for byte -------------------

ALPHABET = ["a", "b", "ab", "é", "\ufffd", " ", "  ", "\t", "<*>", "<", "*", ">", ":", "1"]
FILLERS = [b"a", b"b", b"ba", b"xyz", b" ", b"\t\t", b"\xc3\xa9", b"\xff", b"\xe2\x82", b"\xed\xa0\x80", b"1 2",
           b"<*>", b"\xef\xbf\xbd", b"\xc3"]
HEADER = b"081109 203615 148 INFO dfs.X: "


@st.composite
def vocab_and_log(draw, size: int):
    templates = draw(st.lists(st.lists(st.sampled_from(ALPHABET), min_size=1, max_size=6).map("".join),
                              min_size=size, max_size=size, unique=True))
    lines = []
    for _ in range(draw(st.integers(1, 40))):
        if draw(st.booleans()):
            # A line built from a template: each wildcard filled with 1-3 pieces, whitespace varied.
            pieces = templates[draw(st.integers(0, size - 1))].split("<*>")
            body = b""
            for i, piece in enumerate(pieces):
                body += piece.encode().replace(b" ", draw(st.sampled_from([b" ", b"  ", b"\t"])))
                if i < len(pieces) - 1:
                    body += b"".join(draw(st.lists(st.sampled_from(FILLERS), min_size=1, max_size=3)))
        else:
            body = b"".join(draw(st.lists(st.sampled_from(FILLERS + [t.encode() for t in templates]), max_size=5)))
        lines.append(HEADER + body)
    return templates, lines


def check_generated(engine, directory, model, predict, templates, lines, matched: Counter) -> None:
    """Install templates as directory's vocab.json, run the engine on lines: the reference's verdicts."""
    (directory / "vocab.json").write_text(json.dumps({str(i): t for i, t in enumerate(templates)}, ensure_ascii=False),
                                          encoding="utf-8")
    log = directory / "generated.log"
    log.write_bytes(b"\n".join(lines))
    got = verdicts(engine.run(directory, "--log", log))
    expected = detect_lines(read_log(log), dict(enumerate(templates)), model.header_fields, model.seq_len,
                            model.top_g, predict)
    assert got == expected
    matched.update(r["template"] is not None for r in got)


@pytest.fixture(scope="module")
def scratch_model(hdfs_dir, tmp_path_factory):
    """The HDFS model with a vocab.json we rewrite per example (same size as the model's output)."""
    target = tmp_path_factory.mktemp("generated") / "model"
    shutil.copytree(hdfs_dir, target)
    return target


def test_matcher_agrees_on_generated_logs(release_engine, scratch_model):
    model = load_model_dir(scratch_model)
    predict = ort_predict(model.onnx_path)
    matched = Counter()

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(vocab_and_log(len(model.engine_vocab)))
    def check(case):
        check_generated(release_engine, scratch_model, model, predict, *case, matched)

    check()
    assert matched[True] > 100 and matched[False] > 100, matched  # both paths were exercised


WIDE_VOCAB = 400


@pytest.fixture(scope="module")
def wide_model(trained, tmp_path_factory):
    """A DeepLog model over WIDE_VOCAB templates, made with the project's commands: the HDFS run's
    sequences trained briefly against its training vocab grown with extra entries, then converted."""
    result = trained["HDFS"]
    work = tmp_path_factory.mktemp("wide")
    vocab = json.loads(result.vocab.read_text(encoding="utf-8"))
    vocab.update({f"extra template {i}": i for i in range(len(vocab), WIDE_VOCAB)})
    (work / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    for step in (["deeplog-train", "--seq", result.sequences, "--vocab", work / "vocab.json", "--out",
                  work / "deeplog.pth", "--epochs", "1", "--hidden", "8", "--layers", "1"],
                 ["convert-onnx", "--deeplog-model", work / "deeplog.pth", "--vocab", work / "vocab.json",
                  "--output-dir", work / "model", "--exporter", "legacy"]):
        done = subprocess.run([sys.executable, "-m", "converter.cli", *map(str, step)], capture_output=True, text=True)
        assert done.returncode == 0, f"alog-detect {step[0]} failed: {done.stderr.strip()}"
    return work / "model"


def wide_vocab_and_log(rnd, size: int) -> tuple[list[str], list[bytes]]:
    """``size`` templates in families sharing prefixes (and often tails), with wildcards anywhere,
    duplicates and whitespace variants; lines made from them with wildcards filled, and noise
    (pieces of templates, and runs of a character no template has). Half the vocabularies have no template
    that starts with a wildcard, so their "~" lines stay unmatched and the no-match path is exercised."""
    closed = rnd.random() < 0.5  # every template starts with a literal character: "~" lines match none
    literals = [piece for piece in ALPHABET if piece.strip() and "<*>" not in piece]
    stems = [(rnd.choice(literals) if closed else "") + "".join(rnd.choice(ALPHABET) for _ in range(rnd.randint(0, 4)))
             for _ in range(rnd.randint(1, 12))]
    tails = ["", "", "<*>", " end", ":<*>", "a<*>b"]
    templates = []
    for _ in range(size):
        body = "".join(rnd.choice(ALPHABET) for _ in range(rnd.randint(0, 5)))
        templates.append(rnd.choice(stems) + body + rnd.choice(tails))
    lines = []
    for _ in range(60):
        if rnd.random() < 0.7:
            pieces = rnd.choice(templates).split("<*>")
            body = b""
            for i, piece in enumerate(pieces):
                body += piece.encode().replace(b" ", rnd.choice([b" ", b"  ", b"\t"]))
                if i < len(pieces) - 1:
                    body += b"".join(rnd.choice(FILLERS) for _ in range(rnd.randint(1, 3)))
        elif rnd.random() < 0.5:
            body = b"".join(rnd.choice(FILLERS + [s.encode() for s in stems]) for _ in range(rnd.randint(0, 5)))
        else:  # "~" is in no template: only wildcards can take it
            body = b"~" * rnd.randint(1, 3)
        lines.append(HEADER + body)
    return templates, lines


def test_matcher_agrees_on_generated_wide_vocabularies(engine, wide_model, tmp_path):
    """The template index against converter.matching on many vocabularies of WIDE_VOCAB templates
    whose prefixes, tails and wildcards overlap: same winner (most literal characters, then the
    lowest index; "<*>" one or more characters) on every line."""
    target = tmp_path / "model"
    shutil.copytree(wide_model, target)
    model = load_model_dir(target)
    predict = ort_predict(model.onnx_path)
    matched = Counter()

    @settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
    @given(st.randoms(use_true_random=False))
    def check(rnd):
        check_generated(engine, target, model, predict, *wide_vocab_and_log(rnd, WIDE_VOCAB), matched)

    check()
    assert matched[True] > 1000 and matched[False] > 50, matched

