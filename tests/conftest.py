"""Shared fixtures. The Loghub samples are test data under tests/data/loghub (see its README), never part of the product."""

from __future__ import annotations

from pathlib import Path

import pytest

# The parity suite ships with the harness; its options, fixtures and hooks come from its plugin.
pytest_plugins = ("harness.parity.suite.plugin",)

LOGHUB = Path(__file__).parent / "data" / "loghub"


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


# The end-to-end models every suite shares (converter, parity, C engine): trained once per run on the
# real samples, then exported with each strategy on demand.
E2E_DATASETS = {
    # HDFS_2k is a random sample: block-id sessions hold 1-2 lines, so the log is one session here.
    "HDFS": {"fmt": "hdfs", "session_col": "none"},
    "BGL": {"fmt": "bgl", "session_col": None},
}
STRATEGIES = ("legacy", "dynamo", "auto")


@pytest.fixture(scope="session")
def trained(loghub, tmp_path_factory):
    """dataset name -> PipelineResult (DeepLog and MSCRED checkpoints, legacy export)."""
    from converter.pipeline import run_pipeline

    results = {}
    for name, options in E2E_DATASETS.items():
        out = tmp_path_factory.mktemp(f"e2e-{name}")
        results[name] = run_pipeline(loghub / f"{name}_2k.log", out, window=10, epochs=4, exporter="legacy",
                                     mscred=True, mscred_epochs=2, **options)
    return results


@pytest.fixture(scope="session")
def model_dir(trained, tmp_path_factory):
    """model_dir(dataset, strategy) -> a converted model directory, exported once and cached.

    Each conversion runs in a fresh process through the console entry point, as a user runs it."""
    import subprocess
    import sys

    cache: dict[tuple[str, str], Path] = {}

    def make(dataset: str, strategy: str) -> Path:
        if (dataset, strategy) not in cache:
            result = trained[dataset]
            out = tmp_path_factory.mktemp(f"model-{dataset}-{strategy}")
            done = subprocess.run(
                [sys.executable, "-m", "converter.cli", "convert-onnx", "--deeplog-model", str(result.deeplog_checkpoint),
                 "--vocab", str(result.vocab), "--mscred-model", str(result.mscred_checkpoint),
                 "--output-dir", str(out), "--exporter", strategy],
                capture_output=True, text=True,
            )
            if done.returncode != 0:
                pytest.fail(f"convert-onnx --exporter {strategy} failed for {dataset}: {done.stderr.strip()}")
            cache[(dataset, strategy)] = out
        return cache[(dataset, strategy)]

    return make


@pytest.fixture(scope="session")
def hub_work(loghub, tmp_path_factory):
    """The hub models of tests/data/hub converted once per run through the CLI (tests/hubwork.py): the four
    architectures with seeded weights, the next-template ones with a vocab built from HDFS_2k."""
    from hubwork import make_hub_work

    return make_hub_work(tmp_path_factory.mktemp("hub-work"), loghub)
