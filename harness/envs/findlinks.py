"""The local wheel folder(s) pip is configured with (``pip config get global.find-links``).

uv does not read pip's configuration, so this is how a uv venv reaches the local CPU-only torch wheel.
pip's extra indexes are deliberately not carried over. Standard library only: the noxfile imports it
before anything is installed.
"""

from __future__ import annotations

import subprocess
import sys


def pip_find_links() -> list[str]:
    """Each configured find-links entry, or an empty list when pip has none (or no pip is reachable)."""
    for base in ([sys.executable, "-m", "pip"], ["pip"], ["python3", "-m", "pip"]):
        try:
            proc = subprocess.run([*base, "config", "get", "global.find-links"], capture_output=True, text=True,
                                  timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if proc.returncode == 0 and proc.stdout.strip():
            return proc.stdout.split()
    return []
