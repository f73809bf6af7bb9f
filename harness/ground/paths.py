"""The one place the harness finds the checkout it runs from: its matrix.toml, reports/ and .nox/ are the
defaults of every command (standard library only: noxfile.py imports it before anything is installed)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # harness/ground/paths.py -> the checkout
