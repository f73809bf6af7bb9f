"""Names shared by the converter, the C engine and the harness: the artifact contract.

A model directory written by ``alog-detect convert-onnx`` holds:

- ``deeplog.onnx``: input ``sequences`` int64 [batch, sequence] of template indices,
  output ``logits`` float32 [batch, vocab_size] (scores of the next template; top-g = anomaly check).
- ``mscred.onnx``: input ``signatures`` float32 [batch, step, scales, sensors, sensors] in [0, 1],
  output ``reconstruction`` float32 [batch, scales, sensors, sensors] (of the last step).
- ``<model>.onnx.meta.json``: format_version, model_type, input/output names, dynamic_axes, model_config,
  versions, model-specific keys (deeplog: vocab_size, seq_len, top_g; mscred: sensors, scales, step) and the
  export record under ``"export"``.
- ``vocab.json`` in engine format: ``{"0": "template string", "1": ...}``.
"""

DEEPLOG_ONNX = "deeplog.onnx"
MSCRED_ONNX = "mscred.onnx"
ENGINE_VOCAB = "vocab.json"
META_SUFFIX = ".meta.json"

DEEPLOG_INPUT = "sequences"
DEEPLOG_OUTPUT = "logits"
MSCRED_INPUT = "signatures"
MSCRED_OUTPUT = "reconstruction"

# What a model of each interface takes and gives (converter.specs), and the engine's name for it (meta.json's
# model_type): next-template = DeepLog's, signature-matrix = MSCRED's.
INTERFACES = {"next-template": "deeplog", "signature-matrix": "mscred"}

# The export strategies (converter.exporting): auto is the default.
EXPORT_STRATEGIES = ("auto", "legacy", "dynamo")
# ONNX Runtime's graph optimization levels, by the names the matrix and the C engine use.
OPT_LEVELS = ("disabled", "basic", "extended", "all")

META_FORMAT_VERSION = 1
DEFAULT_TOP_G = 9


def meta_path(onnx_path):
    """``deeplog.onnx`` -> ``deeplog.onnx.meta.json`` (same type as given)."""
    return type(onnx_path)(str(onnx_path) + META_SUFFIX)


# Bounds on every size the converter or the engine reads from a file (checkpoint config, meta.json) or
# an option, checked before anything is allocated. cengine/src/bounds.h holds the same numbers
# (tests/test_bounds.py compares them). (low, high), both included.
BOUNDS = {
    "seq_len": (1, 1_000_000),
    "vocab_size": (1, 100_000_000),
    "top_g": (0, 100_000_000),
    "header_fields": (0, 100_000),
    "hidden": (1, 65_536),
    "layers": (1, 1_000),
    "embed_dim": (1, 65_536),
    "sensors": (1, 100_000),
    "scales": (1, 100_000),
    "step": (1, 100_000),
    "channels": (1, 65_536),
    "opset": (1, 100_000),
    "batch": (1, 1 << 20),
}
# A model's parameters (from its config) and one sample of an MSCRED input (step x scales x sensors^2),
# in elements: a config within the bounds above can still describe a model too large to build.
MAX_PARAMETERS = 1 << 31
MAX_SAMPLE_ELEMENTS = 1 << 28


def in_bounds(name: str, value: object) -> bool:
    """Whether ``value`` is an integer (not a bool) within the bounds of ``name``."""
    low, high = BOUNDS[name]
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def bounds_text(name: str) -> str:
    low, high = BOUNDS[name]
    return f"an integer from {low} to {high}"
