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

# The export strategies (converter.exporting): auto is the default.
EXPORT_STRATEGIES = ("auto", "legacy", "dynamo")
# ONNX Runtime's graph optimization levels, by the names the matrix and the C engine use.
OPT_LEVELS = ("disabled", "basic", "extended", "all")

META_FORMAT_VERSION = 1
DEFAULT_TOP_G = 9


def meta_path(onnx_path):
    """``deeplog.onnx`` -> ``deeplog.onnx.meta.json`` (same type as given)."""
    return type(onnx_path)(str(onnx_path) + META_SUFFIX)
