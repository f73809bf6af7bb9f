"""Golden data: the checkpoints every cell exports and their reference inputs and outputs, made once a run."""
