"""Every value of a marked model (``graph.mark_all``) for one input, in ONNX Runtime at one level; needs only
onnxruntime and numpy, so it runs in any runtime's venv:

    python -m harness.localize --model marked.onnx --input x.npy --opt-level all --out values.npz
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def ort_values(marked: Path, x: Any, opt_level: str) -> dict[str, Any]:
    """name -> array, for every output of the marked model."""
    from converter.ortsession import ort_session

    session = ort_session(marked, opt_level=opt_level)
    names = [o.name for o in session.get_outputs()]
    feed = {session.get_inputs()[0].name: x}
    return dict(zip(names, session.run(names, feed), strict=True))


def reference_values(marked: Path, x: Any) -> dict[str, Any]:
    """The same values from onnx's reference evaluator (plain numpy kernels: no optimizer, no fused ops)."""
    import onnx
    from onnx.reference import ReferenceEvaluator

    model = onnx.load(str(marked))
    evaluator = ReferenceEvaluator(model)
    names = [o.name for o in model.graph.output]
    return dict(zip(names, evaluator.run(names, {model.graph.input[0].name: x}), strict=True))


def read_values(path: Path) -> dict[str, Any]:
    import numpy as np

    with np.load(path) as data:
        names = [str(n) for n in data["names"]]
        return {name: data[f"v{i}"] for i, name in enumerate(names)}

