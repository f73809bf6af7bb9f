"""alog-matrix: run the converter, the parity suite and the C engine in one environment per PyTorch."""
