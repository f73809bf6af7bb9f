"""alog-detect: raw logs to verified ONNX artifacts for DeepLog and MSCRED."""

__version__ = "0.1.0"
