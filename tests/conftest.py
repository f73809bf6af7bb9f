"""Shared fixtures. The Loghub samples are test data under tests/data/loghub (see its README), never part of the product."""

from __future__ import annotations

from pathlib import Path

import pytest

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


def pytest_addoption(parser):
    """Options of the parity suite (tests/parity; layout and report format in tests/parity/README.md)."""
    group = parser.getgroup("parity", "parity suite (pytest -k parity)")
    group.addoption("--artifacts", metavar="DIR", default=None,
                    help="check artifacts made elsewhere instead of exporting here (python -m harness.parity layout)")
    group.addoption("--parity-report", metavar="PATH", default=None,
                    help="figures JSON written at the end of the run (default: reports/parity/figures.json)")
    group.addoption("--parity-repro-dir", metavar="DIR", default=None,
                    help="where failing examples are written as repro bundles (default: reports/repro)")
    group.addoption("--parity-strategies", metavar="[MODEL=]LIST", default=None, action="append",
                    help="export strategies to check, comma-separated, for every model or (MODEL=LIST, repeatable) "
                         "one model (default: legacy,dynamo; with --artifacts: per model, the strategies that made "
                         "its artifacts there)")
    group.addoption("--parity-tolerance", metavar="SPEC", default=None,
                    help="tolerance policy, e.g. atol=1e-5,rtol=1e-4,max_outlier_fraction=0 (default: converter.compare's)")
