"""Shared fixtures. The Loghub samples live beside the repository, never inside the product."""

from __future__ import annotations

from pathlib import Path

import pytest

LOGHUB = Path(__file__).parents[1].parent / "shared/data/loghub"


@pytest.fixture(scope="session")
def loghub() -> Path:
    """Folder of the Loghub 2k samples (HDFS, BGL, OpenSSH: raw logs, structured CSVs, templates)."""
    if not LOGHUB.is_dir():
        pytest.fail(f"Loghub samples not found at {LOGHUB}")
    return LOGHUB


@pytest.fixture(scope="session")
def parsed_logs(loghub, tmp_path_factory) -> dict[str, Path]:
    """HDFS_2k / BGL_2k / OpenSSH_2k parsed once per run with the shipped Drain3 config."""
    from converter.parsing import parse_log

    out = tmp_path_factory.mktemp("parsed")
    paths = {}
    for name in ("HDFS", "BGL", "OpenSSH"):
        paths[name] = out / f"{name}.parquet"
        parse_log(loghub / f"{name}_2k.log", paths[name])
    return paths
