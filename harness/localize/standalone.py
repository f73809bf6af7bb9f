"""The ``repro.py`` of a repro bundle, as it is copied into the bundle: it needs numpy and onnxruntime only,
so the maintainers of ONNX Runtime or PyTorch can run it without this repository. The bundle writer
replaces the block between the ``pinned`` markers with the bundle's level and tolerance.

    python repro.py            # exit 1 while a part diverges, 0 when every part agrees, 2 without numpy/onnxruntime

Each part is a model beside the script with its feeds and its expected outputs (``model.onnx`` with
``inputs.npz`` and ``expected.npz``; ``subgraph.onnx`` with ``subgraph_inputs.npz`` and
``subgraph_expected.npz``). Its last line is JSON: the versions and each part's figures.
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

try:
    import numpy as np
    import onnxruntime as ort
except ImportError as exc:  # a missing package is no divergence: exit 2, never the divergence code 1
    if __name__ != "__main__":
        raise
    print(f"repro.py needs numpy and onnxruntime: {exc}", file=sys.stderr)
    sys.exit(2)

# pinned: begin
LEVEL = "ORT_ENABLE_ALL"
ATOL = 1e-05
RTOL = 0.0001
# pinned: end

HERE = Path(__file__).resolve().parent
PARTS = (("model.onnx", "inputs.npz", "expected.npz"),
         ("subgraph.onnx", "subgraph_inputs.npz", "subgraph_expected.npz"))


def run_part(model: Path, inputs: Path, expected: Path) -> tuple[float, bool]:
    """Max abs error over the expected outputs, and whether each is within ATOL + RTOL * |expected|."""
    options = ort.SessionOptions()
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, LEVEL)
    options.intra_op_num_threads = 1  # one thread: the same reduction order on every run
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    with np.load(inputs) as feeds, np.load(expected) as wanted:
        names = list(wanted.files)
        outputs = session.run(names, {name: feeds[name] for name in feeds.files})
        worst, agree = 0.0, True
        for index, name in enumerate(names):  # no zip(strict=): the script runs on older Pythons too
            got, want = np.asarray(outputs[index]), np.asarray(wanted[name])
            if got.shape != want.shape or got.dtype.kind not in "biuf":
                same = got.shape == want.shape and bool(np.array_equal(got, want))
                worst, agree = (worst, agree) if same else (float("inf"), False)
                continue
            got64, want64 = got.astype(np.float64), want.astype(np.float64)
            diff = np.where(np.isnan(got64) & np.isnan(want64), 0.0, np.abs(got64 - want64))
            if diff.size:
                worst = max(worst, float(np.nan_to_num(diff, nan=np.inf).max()))
            agree = agree and bool(np.allclose(got64, want64, rtol=RTOL, atol=ATOL, equal_nan=True))
    return worst, agree


def main() -> int:
    print(f"onnxruntime {ort.__version__}, numpy {np.__version__}, python {platform.python_version()}; "
          f"{LEVEL}, CPUExecutionProvider, atol {ATOL:g}, rtol {RTOL:g}")
    figures = {}
    for model, inputs, expected in PARTS:
        if not (HERE / model).is_file():
            continue
        worst, agree = run_part(HERE / model, HERE / inputs, HERE / expected)
        # strict JSON (no Infinity literal): an infinite error is the string "inf"
        figures[model] = {"max_abs_error": worst if np.isfinite(worst) else str(worst), "diverges": not agree}
        print(f"{model}: max abs error {worst:.3g}: {'agrees' if agree else 'DIVERGES'}")
    print(json.dumps({"onnxruntime": ort.__version__, "numpy": np.__version__,
                      "python": platform.python_version(), "level": LEVEL, "parts": figures}, allow_nan=False))
    return 1 if any(part["diverges"] for part in figures.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
