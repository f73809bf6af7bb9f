"""Parity examples per second, PyTorch next to ONNX Runtime, for DeepLog and MSCRED.

An example is what the parity suite checks: one input tensor through PyTorch and ONNX Runtime, compared
under the tolerance policy. DeepLog inputs are drawn as the suite draws them (batch 1..64, sequence
1..4x the window, ids in range); MSCRED inputs are signature matrices in [0, 1] (batch 1..8).

Measured side by side in one run:
- one by one: one PyTorch call and one ONNX Runtime call per example (what a hypothesis example costs);
- batched: examples of the same sequence length concatenated along the batch axis, one call per group on
  each side, outputs split back and compared example by example (harness.parity.properties.check_parity_many).

Both sides run with the same explicit thread count (--threads, default 1: the suite's setting), sessions
come from one SessionCache (created once per artifact), PyTorch runs under torch.inference_mode.
Prints a table and writes reports/bench/parity.json (atomically). Target: >= 300 DeepLog examples/s.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from converter import atomic, versions  # noqa: E402
from converter.exporting import export_model  # noqa: E402
from converter.models import MSCRED, DeepLog, DeepLogConfig, MSCREDConfig  # noqa: E402
from converter.specs import deeplog_spec, mscred_spec  # noqa: E402
from harness.parity.properties import ParityContext, check_parity, check_parity_many  # noqa: E402
from harness.parity.sessions import SessionCache  # noqa: E402
from harness.parity.subjects import Subject  # noqa: E402

DEEPLOG_TARGET = 300.0  # examples per second


def deeplog_examples(rng: np.random.Generator, n: int, vocab: int, window: int) -> list[np.ndarray]:
    return [rng.integers(0, vocab, size=(int(rng.integers(1, 65)), int(rng.integers(1, 4 * window + 1))),
                         dtype=np.int64) for _ in range(n)]


def mscred_examples(rng: np.random.Generator, n: int, c: MSCREDConfig) -> list[np.ndarray]:
    return [rng.random((int(rng.integers(1, 9)), c.step, c.scales, c.sensors, c.sensors), dtype=np.float32)
            for _ in range(n)]


def measure(subject: Subject, inputs: list[np.ndarray], ctx: ParityContext, repeats: int) -> dict:
    check_parity(subject, inputs[0], ctx)  # warm-up: session creation and first-call costs
    check_parity_many(subject, inputs[:8], ctx)
    best_one, best_many = float("inf"), float("inf")
    for _ in range(repeats):  # best of `repeats`: the machine is shared, the minimum is the least disturbed
        started = time.perf_counter()
        for x in inputs:
            check_parity(subject, x, ctx)
        best_one = min(best_one, time.perf_counter() - started)
        started = time.perf_counter()
        check_parity_many(subject, inputs, ctx)
        best_many = min(best_many, time.perf_counter() - started)
    n = len(inputs)
    return {"examples": n, "elements_per_example": float(np.mean([x.size for x in inputs])),
            "one_by_one_s": best_one, "batched_s": best_many,
            "one_by_one_per_s": n / best_one, "batched_per_s": n / best_many,
            "batched_speedup": best_one / best_many}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads for PyTorch and ONNX Runtime")
    parser.add_argument("--deeplog-examples", type=int, default=600)
    parser.add_argument("--mscred-examples", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "reports/bench/parity.json")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    sessions = SessionCache(threads=args.threads)
    rng = np.random.default_rng(0)
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-parity-") as tmp:
        torch.manual_seed(0)
        deeplog = DeepLog(DeepLogConfig(vocab_size=30, seq_len=10, hidden=64, layers=2, embed_dim=16)).eval()
        torch.manual_seed(0)
        mscred = MSCRED(MSCREDConfig(sensors=14)).eval()
        subjects = {}
        for name, model, spec in (("deeplog", deeplog, deeplog_spec(deeplog)), ("mscred", mscred, mscred_spec(mscred))):
            path = Path(tmp) / f"{name}.onnx"
            record = export_model(model, spec, path, "legacy")
            subjects[name] = Subject(f"bench-{name}", name, model, path, None, spec.input_name, spec.output_name,
                                     record.exporter)
        ctx = ParityContext(sessions, repro_dir=Path(tmp) / "repro")
        results["deeplog"] = measure(subjects["deeplog"], deeplog_examples(rng, args.deeplog_examples, 30, 10),
                                     ctx, args.repeats)
        results["mscred"] = measure(subjects["mscred"], mscred_examples(rng, args.mscred_examples, mscred.config),
                                    ctx, args.repeats)

    best_deeplog = max(results["deeplog"]["one_by_one_per_s"], results["deeplog"]["batched_per_s"])
    document = {
        "benchmark": "parity",
        "environment": versions.environment(),
        "threads": {"torch_intra_op": torch.get_num_threads(), "ort_intra_op": args.threads, "ort_inter_op": 1},
        "models": {"deeplog": deeplog.config.to_dict(), "mscred": mscred.config.to_dict()},
        "exporter": "legacy",
        "results": results,
        "sessions": sessions.stats(),
        "deeplog_target_per_s": DEEPLOG_TARGET,
        "deeplog_target_met": best_deeplog >= DEEPLOG_TARGET,
    }
    atomic.write_json(args.out, document)

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"parity examples per second (torch {torch.__version__}, {args.threads} intra-op thread(s) "
                        f"each side, best of {args.repeats})")
    for column in ("model", "examples", "one by one /s", "batched /s", "batched speed-up"):
        table.add_column(column, justify="right")
    for name, r in results.items():
        table.add_row(name, str(r["examples"]), f"{r['one_by_one_per_s']:.0f}", f"{r['batched_per_s']:.0f}",
                      f"{r['batched_speedup']:.2f}x")
    console = Console()
    console.print(table)
    console.print(f"DeepLog target {DEEPLOG_TARGET:.0f} examples/s: "
                  f"{'met' if document['deeplog_target_met'] else 'NOT met'} ({best_deeplog:.0f}/s); "
                  f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
