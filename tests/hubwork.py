"""Hub models as a team brings them (tests/data/hub/hubconf.py), converted once per test run through the CLI as a
user types it: ``python -m converter.cli convert-onnx`` in a fresh process, run from a work folder with
relative paths, each architecture with a seeded state_dict (so the tests can rebuild the very module) and the
next-template ones with a training vocab made by the real pipeline from a Loghub sample.

Shared by tests/test_hub_models.py and tests/cengine/test_hub_artifacts.py (through tests/conftest.py).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HUB_DATA = Path(__file__).parent / "data" / "hub"
WINDOW = 10
SHAPE = (4, 3, 6)  # step, scales, sensors of the signature-matrix model
LOGHUB_SAMPLE, LOG_FORMAT = "HDFS", "hdfs"
WORKERS = 2  # conversions are CPU-bound and CI has 2 cores: two at a time overlaps torch's imports and exports


@dataclass(frozen=True)
class Arch:
    entry: str
    interface: str
    kwargs: dict[str, Any]  # "V": the Loghub vocab's size, filled in once it is known
    seed: int
    with_vocab: bool = False


ARCHS = {
    "gru": Arch("gru_next_template", "next-template", {"vocab_size": "V"}, 11, with_vocab=True),
    "onehot_lstm": Arch("onehot_lstm", "next-template", {"vocab_size": "V"}, 12, with_vocab=True),
    "transformer": Arch("template_transformer", "next-template", {"vocab_size": 30, "d_model": 32}, 13),
    "autoencoder": Arch("conv_autoencoder", "signature-matrix", {"scales": SHAPE[1], "channels": 8}, 14),
}


def alog(cwd: Path, *argv: str) -> subprocess.CompletedProcess:
    """``alog-detect ARGV`` in a fresh process from ``cwd`` (torch's exporter keeps state within a process)."""
    return subprocess.run([sys.executable, "-m", "converter.cli", *map(str, argv)], cwd=cwd, capture_output=True,
                          text=True, timeout=600, check=False)


def alog_many(cwd: Path, argvs: dict[str, list[str]]) -> dict[str, subprocess.CompletedProcess]:
    with ThreadPoolExecutor(WORKERS) as pool:
        futures = {name: pool.submit(alog, cwd, *argv) for name, argv in argvs.items()}
        return {name: future.result() for name, future in futures.items()}


@dataclass
class HubWork:
    """The work folder (cwd of every command) and what was made in it; paths below are relative to it."""

    root: Path
    log: Path  # the Loghub sample the vocab was built from
    vocab: Path  # training vocab.json (template -> id)
    vocab_size: int
    results: dict[str, subprocess.CompletedProcess]

    def kwargs(self, name: str) -> dict[str, Any]:
        return {k: self.vocab_size if v == "V" else v for k, v in ARCHS[name].kwargs.items()}

    def weights(self, name: str) -> Path:
        return Path(f"{name}.pth")

    def out(self, name: str) -> Path:
        return Path(f"out-{name}")

    def onnx(self, name: str) -> Path:
        file = "deeplog.onnx" if ARCHS[name].interface == "next-template" else "mscred.onnx"
        return self.root / self.out(name) / file

    def meta(self, name: str) -> dict[str, Any]:
        return json.loads(self.onnx(name).with_name(self.onnx(name).name + ".meta.json").read_text())

    def entry(self, name: str, weights: Path | None = None):
        from converter.hub import HubEntry

        arch = ARCHS[name]
        next_template = arch.interface == "next-template"
        return HubEntry(self.root / "hub", arch.entry, arch.interface, self.kwargs(name), weights,
                        WINDOW if next_template else None, None if next_template else SHAPE)

    def module(self, name: str, seed: int | None = None):
        """The PyTorch module of ``name``: with the converted weights, or (``seed``) freshly built."""
        from converter import hub

        weights = None if seed is not None else self.root / self.weights(name)
        return hub.load(self.entry(name, weights), seed=seed).module

    def convert_argv(self, name: str, *extra: str, out: Path | None = None) -> list[str]:
        arch = ARCHS[name]
        argv = ["convert-onnx", "--hub", "hub", "--entry", arch.entry, "--interface", arch.interface,
                "--kwargs", json.dumps(self.kwargs(name)), "--output-dir", str(out or self.out(name))]
        if arch.interface == "next-template":
            argv += ["--window", str(WINDOW)]
        else:
            argv += ["--shape", ",".join(map(str, SHAPE))]
        if arch.with_vocab:
            argv += ["--vocab", str(self.vocab), "--log-format", LOG_FORMAT]
        return argv + list(extra)


def make_hub_work(root: Path, loghub: Path) -> HubWork:
    """Copy the hub and a Loghub sample into ``root``, build the training vocab with parse and build-deeplog,
    save each architecture's seeded state_dict, and convert the four with auto and --validate."""
    from converter import hub
    from converter.cli import main

    shutil.copytree(HUB_DATA, root / "hub")
    log = root / f"{LOGHUB_SAMPLE}_2k.log"
    shutil.copyfile(loghub / log.name, log)
    # HDFS_2k is a random sample: its block-id sessions hold 1-2 lines, so the log is one session
    for argv in (["parse", "--log", log, "--out", root / "parsed.parquet", "--format", LOG_FORMAT],
                 ["build-deeplog", "--parsed", root / "parsed.parquet", "--out-dir", root / "deeplog",
                  "--window", WINDOW, "--session-col", "none"]):
        assert main([str(a) for a in argv]) == 0, f"alog-detect {argv[0]} failed"
    vocab = Path("deeplog/vocab.json")
    size = len(json.loads((root / vocab).read_text()))
    work = HubWork(root, Path(log.name), vocab, size, {})
    for name, arch in ARCHS.items():
        hub.save_weights(work.module(name, seed=arch.seed), root / work.weights(name))
    work.results.update(alog_many(root, {name: work.convert_argv(name, "--weights", str(work.weights(name)),
                                                                 "--validate") for name in ARCHS}))
    return work
