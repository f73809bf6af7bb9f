"""C engine vs Python ONNX Runtime, side by side on one real DeepLog artifact (HDFS_2k, legacy export).

Both sides use one intra-op thread (ONNX Runtime's ``intra_op_num_threads = 1``) and the same
ONNX Runtime library (the one in this Python's onnxruntime package). Figures:

(a) per-Run overhead at batch 1: the engine's whole batch step (input tensor, Run, output checks,
    ranks) against OrtApi::Run alone, both timed inside the engine with clock_gettime (--bench);
(b) windows/s at batch 1 and 256: engine (--bench) vs Python ``InferenceSession.run``;
(c) detection lines/s on HDFS_2k repeated to 100,000 lines (whole process: start-up, model load,
    matching, inference, JSON output; ONNX Runtime on one intra-op thread, the engine's line reader
    and matcher on a thread of their own), with the engine's window cache and without it
    (--no-cache: every window run), next to the Python reference detector;
(d) template matching lines/s (--bench-match: header cut, cleaning and matching of lines held in
    memory) on the same log against 100, 1k, 10k and 100k templates: the model's real templates
    after Loghub-shaped synthetic ones (see synthetic_templates);
(e) streaming latency: a line written into a pipe until its verdict is read back (--log -,
    --batch 1), median and 90th percentile over many lines.

Prints a table and writes reports/bench/cengine.json. Targets: (a) <= 10 %, (b) >= 1.0x,
(c) >= 50,000 with the cache and >= 100,000 without, (d) 100k templates within 2x of 100.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import selectors
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from converter import atomic  # noqa: E402
from converter.detection import detect_file  # noqa: E402
from harness.runtimes import engine as cengine  # noqa: E402

LOGHUB = ROOT / "tests" / "data" / "loghub"
REPORT = ROOT / "reports/bench/cengine.json"
THREADS = 1
REPEATS = 5  # each figure is the median of REPEATS interleaved runs (the machine is shared)
SECONDS = 1.5  # per measurement, on each side
TEMPLATE_COUNTS = (100, 1_000, 10_000, 100_000)
LATENCY_LINES = 500


def build_model(work: Path) -> Path:
    from converter.pipeline import run_pipeline

    result = run_pipeline(LOGHUB / "HDFS_2k.log", work, fmt="hdfs", session_col="none", window=10, epochs=2,
                          exporter="legacy", seed=0)
    return result.model_dir


def python_windows_per_s(onnx_path: Path, vocab: int, seq: int, batch: int, seconds: float = SECONDS) -> float:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = THREADS
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    x = np.random.default_rng(0).integers(0, vocab, size=(batch, seq), dtype=np.int64)
    for _ in range(5):
        session.run(None, {name: x})
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        session.run(None, {name: x})
        calls += 1
    return calls * batch / (time.perf_counter() - start)


def iterations_for(model_dir: Path, batch: int, lib: Path) -> int:
    """Run calls that take about SECONDS in the engine, so both sides are timed equally long."""
    probe = cengine.run_bench(model_dir, 20, batch, ort_lib=lib, threads=THREADS)
    return max(20, int(SECONDS * 1e6 / probe["engine_us_per_call"]))


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def synthetic_templates(real: list[str], size: int, seed: int = 0) -> list[str]:
    """``size`` templates: synthetic ones first, then ``real`` (the model's own) last. A synthetic one is
    a Loghub template (HDFS, BGL, OpenSSH) whose wildcard tokens stay, whose first token stays half the
    time and each other token with probability 0.3, the rest replaced by random letters of the same
    length: many shared prefixes, as in a vocabulary mined from many similar services."""
    rng = random.Random(seed)
    bases = list(real)
    for name in ("HDFS", "BGL", "OpenSSH"):
        with open(LOGHUB / f"{name}_2k.log_templates.csv", newline="", encoding="utf-8") as f:
            bases += [row["EventTemplate"] for row in csv.DictReader(f)]
    seen, out = set(real), []
    while len(out) < size - len(real):
        tokens = rng.choice(bases).split()
        kept = [t if "<*>" in t or rng.random() < (0.5 if i == 0 else 0.3)
                else "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(max(2, len(t))))
                for i, t in enumerate(tokens)]
        template = " ".join(kept)
        if template not in seen:
            seen.add(template)
            out.append(template)
    return out + list(real)


def template_dir(model_dir: Path, size: int, target: Path) -> Path:
    """What --bench-match reads (no ONNX model): the model's metadata and a vocab of ``size`` templates."""
    real = list(json.loads((model_dir / "vocab.json").read_text(encoding="utf-8")).values())
    templates = synthetic_templates(real, size)
    target.mkdir(parents=True, exist_ok=True)
    meta = json.loads((model_dir / "deeplog.onnx.meta.json").read_text())
    (target / "deeplog.onnx.meta.json").write_text(json.dumps({**meta, "vocab_size": len(templates)}))
    (target / "vocab.json").write_text(json.dumps({str(i): t for i, t in enumerate(templates)}, ensure_ascii=False),
                                       encoding="utf-8")
    return target


def bench_match(binary: Path, directory: Path, log: Path) -> dict:
    out = subprocess.run([str(binary), str(directory), "--bench-match", str(log)], check=True,
                         capture_output=True).stdout
    return json.loads(out)


def streaming_latency(binary: Path, lib: Path, model_dir: Path, lines: list[bytes]) -> list[float]:
    """Seconds from writing each line into the engine's stdin pipe to reading its verdict (--batch 1)."""
    proc = subprocess.Popen([str(binary), str(model_dir), "--log", "-", "--batch", "1", "--ort-lib", str(lib),
                             "--threads", str(THREADS)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    seconds, pending = [], b""
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        for line in lines:
            start = time.perf_counter()
            proc.stdin.write(line + b"\n")
            proc.stdin.flush()
            while b"\n" not in pending:
                if not selector.select(timeout=60):
                    proc.kill()
                    raise RuntimeError("no verdict within 60 s")
                pending += proc.stdout.read1(1 << 16)
            seconds.append(time.perf_counter() - start)
            pending = pending.split(b"\n", 1)[1]
    proc.stdin.close()
    proc.wait()
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=50, help="HDFS_2k copies in the detection log (50: 100k lines)")
    args = parser.parse_args(argv)

    binary = cengine.ensure_built()
    lib = cengine.default_ort_lib()
    with tempfile.TemporaryDirectory(prefix="bench-cengine-") as tmp:
        work = Path(tmp)
        model_dir = build_model(work / "pipeline")
        meta = json.loads((model_dir / "deeplog.onnx.meta.json").read_text())
        vocab, seq = int(meta["vocab_size"]), int(meta["seq_len"])

        runs = {}
        for batch in (1, 256):
            iterations = iterations_for(model_dir, batch, lib)
            engine, python = [], []
            for _ in range(REPEATS):  # interleaved, so that load from elsewhere hits both sides alike
                engine.append(cengine.run_bench(model_dir, iterations, batch, ort_lib=lib, threads=THREADS))
                python.append(python_windows_per_s(model_dir / "deeplog.onnx", vocab, seq, batch))
            runs[batch] = {
                "engine_us_per_call": statistics.median(e["engine_us_per_call"] for e in engine),
                "ort_run_us_per_call": statistics.median(e["ort_run_us_per_call"] for e in engine),
                "overhead_pct": statistics.median(e["overhead_pct"] for e in engine),
                "engine_windows_per_s": statistics.median(e["windows_per_s"] for e in engine),
                "python_windows_per_s": statistics.median(python),
            }
            runs[batch]["speedup"] = runs[batch]["engine_windows_per_s"] / runs[batch]["python_windows_per_s"]

        log = work / "hdfs_repeated.log"
        one = (LOGHUB / "HDFS_2k.log").read_bytes()
        log.write_bytes(one * args.copies)
        lines = log.read_bytes().count(b"\n")
        base = [str(binary), str(model_dir), "--log", str(log), "--ort-lib", str(lib), "--threads", str(THREADS)]
        cached = statistics.median(timed(base) for _ in range(REPEATS))
        uncached = statistics.median(timed(base + ["--no-cache"]) for _ in range(REPEATS))
        # The Python reference on a tenth of the log (it is the slow side; lines/s is what compares).
        small = work / "hdfs_small.log"
        small.write_bytes(one * max(1, args.copies // 10))
        small_lines = small.read_bytes().count(b"\n")
        start = time.perf_counter()
        detect_file(small, model_dir)
        reference = small_lines / (time.perf_counter() - start)
        detection = {"lines": lines, "engine_lines_per_s": lines / cached,
                     "engine_no_cache_lines_per_s": lines / uncached,
                     "python_reference_lines_per_s": reference, "python_reference_lines": small_lines}

        matching = {}
        dirs = {size: template_dir(model_dir, size, work / f"templates-{size}") for size in TEMPLATE_COUNTS}
        samples = {size: [] for size in TEMPLATE_COUNTS}
        for _ in range(REPEATS):  # interleaved across sizes
            for size in TEMPLATE_COUNTS:
                samples[size].append(bench_match(binary, dirs[size], log))
        for size in TEMPLATE_COUNTS:
            matching[str(size)] = {"lines_per_s": statistics.median(s["lines_per_s"] for s in samples[size]),
                                   "matched_lines": samples[size][0]["matched"], "lines": samples[size][0]["lines"]}
        smallest, largest = matching[str(TEMPLATE_COUNTS[0])], matching[str(TEMPLATE_COUNTS[-1])]
        matching["slowdown_largest_vs_smallest"] = smallest["lines_per_s"] / largest["lines_per_s"]

        real_lines = [line for line in one.split(b"\n") if line.strip()][:LATENCY_LINES + 20]
        latency = streaming_latency(binary, lib, model_dir, real_lines)[20:]  # the first lines warm up
        streaming = {"lines": len(latency), "median_us": statistics.median(latency) * 1e6,
                     "p90_us": statistics.quantiles(latency, n=10)[-1] * 1e6}

    report = {
        "artifact": "deeplog.onnx from HDFS_2k (legacy export, hidden 64, 2 layers, seq_len 10)",
        "vocab_size": vocab,
        "threads": {"intra_op": THREADS, "note": "intra_op_num_threads=1 on both sides"},
        "onnxruntime_library": str(lib),
        "repeats": REPEATS,
        "batch": {str(b): v for b, v in runs.items()},
        "detection": detection,
        "matching": matching,
        "streaming_latency": streaming,
        "targets": {"overhead_pct_batch1_max": 10.0, "speedup_min": 1.0, "detection_lines_per_s_min": 50000,
                    "detection_no_cache_lines_per_s_min": 100000, "matching_slowdown_max": 2.0},
        "met": {
            "overhead": runs[1]["overhead_pct"] <= 10.0,
            "speedup_batch1": runs[1]["speedup"] >= 1.0,
            "speedup_batch256": runs[256]["speedup"] >= 1.0,
            "detection": detection["engine_lines_per_s"] >= 50000,
            "detection_no_cache": detection["engine_no_cache_lines_per_s"] >= 100000,
            "matching_scales": matching["slowdown_largest_vs_smallest"] <= 2.0,
        },
    }
    atomic.write_json(REPORT, report)

    rows = [
        ("(a) overhead per Run, batch 1", f"{runs[1]['engine_us_per_call']:.1f} us engine step",
         f"{runs[1]['ort_run_us_per_call']:.1f} us OrtApi::Run", f"{runs[1]['overhead_pct']:.2f} %", "<= 10 %"),
        ("(b) windows/s, batch 1", f"{runs[1]['engine_windows_per_s']:,.0f} engine",
         f"{runs[1]['python_windows_per_s']:,.0f} Python ORT", f"{runs[1]['speedup']:.2f}x", ">= 1.0x"),
        ("(b) windows/s, batch 256", f"{runs[256]['engine_windows_per_s']:,.0f} engine",
         f"{runs[256]['python_windows_per_s']:,.0f} Python ORT", f"{runs[256]['speedup']:.2f}x", ">= 1.0x"),
        (f"(c) detection lines/s ({lines:,} lines)", f"{detection['engine_lines_per_s']:,.0f} engine",
         f"{detection['python_reference_lines_per_s']:,.0f} Python reference",
         f"{detection['engine_lines_per_s'] / detection['python_reference_lines_per_s']:.1f}x", ">= 50,000"),
        ("(c) same, --no-cache", f"{detection['engine_no_cache_lines_per_s']:,.0f} engine", "", "", ">= 100,000"),
        *[(f"(d) matching lines/s, {size:,} templates", f"{matching[str(size)]['lines_per_s']:,.0f} engine", "",
           f"{smallest['lines_per_s'] / matching[str(size)]['lines_per_s']:.2f}x slower than {TEMPLATE_COUNTS[0]}",
           "<= 2x" if size == TEMPLATE_COUNTS[-1] else "") for size in TEMPLATE_COUNTS],
        ("(e) streaming latency, --batch 1", f"{streaming['median_us']:,.0f} us median",
         f"{streaming['p90_us']:,.0f} us p90", f"{streaming['lines']} lines", ""),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    print(f"C engine benchmark (intra-op threads = {THREADS} on both sides; median of {REPEATS})")
    for r in rows:
        print("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    print(f"-> {REPORT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
