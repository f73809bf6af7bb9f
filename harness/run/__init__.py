"""Running the matrix: the orchestrator, the cell runner inside each cell venv, the fan-out for CI."""
