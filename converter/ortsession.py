"""The one way an ONNX Runtime session is made here (needs only onnxruntime: the runtime stage's venvs
have no torch)."""

from __future__ import annotations

from pathlib import Path

from converter.artifacts import OPT_LEVELS
from converter.errors import AlogError

_ORT_LEVEL_NAMES = {"disabled": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC", "extended": "ORT_ENABLE_EXTENDED",
                    "all": "ORT_ENABLE_ALL"}


def ort_session(onnx_path: str | Path, threads: int = 1, opt_level: str | None = None):
    """CPU, ``threads`` intra-op threads, errors-only logging, and ``opt_level`` (one of OPT_LEVELS; None keeps
    ONNX Runtime's default, "all")."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: warnings about unused initializers are not ours to show
    if opt_level is not None:
        if opt_level not in _ORT_LEVEL_NAMES:
            raise AlogError(f"unknown optimization level {opt_level!r}: choose one of {', '.join(OPT_LEVELS)}")
        options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, _ORT_LEVEL_NAMES[opt_level])
    return ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
