"""The runtime stage: every artifact the cells kept, in every ONNX Runtime of matrix.toml's [[runtime]]
tables, at every graph optimization level, through ONNX Runtime's Python API and the C engine."""
