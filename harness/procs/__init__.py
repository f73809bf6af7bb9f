"""Child processes and locks: run a child in its own session with a time limit, hold a folder."""
