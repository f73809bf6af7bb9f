"""C engine vs Python ONNX Runtime, side by side on one real DeepLog artifact (HDFS_2k, legacy export).

Both sides use one intra-op thread (ONNX Runtime's ``intra_op_num_threads = 1``) and the same
ONNX Runtime library (the one in this Python's onnxruntime package). Figures:

(a) per-Run overhead at batch 1: the engine's whole batch step (input tensor, Run, output checks,
    ranks) against OrtApi::Run alone, both timed inside the engine with clock_gettime (--bench);
(b) windows/s at batch 1 and 256: engine (--bench) vs Python ``InferenceSession.run``;
(c) detection lines/s on HDFS_2k repeated to 100,000 lines (one core, whole process: start-up, model
    load, matching, inference, JSON output), with the engine's window cache and without it
    (--no-cache: every window run), next to the Python reference detector.

Prints a table and writes reports/bench/cengine.json. Targets: (a) <= 10 %, (b) >= 1.0x, (c) >= 50,000.
"""

from __future__ import annotations

import argparse
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
from harness import cengine  # noqa: E402

LOGHUB = ROOT.parent / "shared/data/loghub"
REPORT = ROOT / "reports/bench/cengine.json"
THREADS = 1
REPEATS = 5  # each figure is the median of REPEATS interleaved runs (the machine is shared)
SECONDS = 1.5  # per measurement, on each side


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=50, help="HDFS_2k copies in the detection log (50: 100k lines)")
    args = parser.parse_args(argv)

    binary = cengine.ensure_built()
    lib = cengine.default_ort_lib()
    with tempfile.TemporaryDirectory(prefix="bench-cengine-") as tmp:
        work = Path(tmp)
        model_dir = build_model(work / "pipeline")
        import json

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

    report = {
        "artifact": "deeplog.onnx from HDFS_2k (legacy export, hidden 64, 2 layers, seq_len 10)",
        "vocab_size": vocab,
        "threads": {"intra_op": THREADS, "note": "intra_op_num_threads=1 on both sides"},
        "onnxruntime_library": str(lib),
        "repeats": REPEATS,
        "batch": {str(b): v for b, v in runs.items()},
        "detection": detection,
        "targets": {"overhead_pct_batch1_max": 10.0, "speedup_min": 1.0, "detection_lines_per_s_min": 50000},
        "met": {
            "overhead": runs[1]["overhead_pct"] <= 10.0,
            "speedup_batch1": runs[1]["speedup"] >= 1.0,
            "speedup_batch256": runs[256]["speedup"] >= 1.0,
            "detection": detection["engine_lines_per_s"] >= 50000,
            "detection_no_cache": detection["engine_no_cache_lines_per_s"] >= 50000,
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
        ("(c) same, --no-cache", f"{detection['engine_no_cache_lines_per_s']:,.0f} engine", "", "", ">= 50,000"),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    print(f"C engine benchmark (intra-op threads = {THREADS} on both sides; median of {REPEATS})")
    for r in rows:
        print("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)))
    print(f"-> {REPORT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
