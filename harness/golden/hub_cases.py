"""The golden data of a team's hub entry (``[model.NAME]``): its weights, inputs and reference outputs.

Weights: the entry's given state_dict, or, when it names none, the entry built once under the run's seed
and saved (initialisations differ between torch releases, so every cell loads these). Inputs: a
next-template model gets id windows at batches 1, 7, 64 and lengths 1, W, 2W, 4W+3, an edge case, and
the windows of ``[model] log`` when it has a vocab; a signature-matrix model gets random, zero, constant and
sparse matrices. An entry that cannot be built here is recorded with its reason instead of data: each cell
then tries it in its own torch and records what happens there (the rest of the matrix goes on).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from converter.atomic import sha256_file
from converter.errors import AlogError, describe
from harness.config.models import ModelEntry
from harness.golden.cases import detector_windows, id_window_cases, matrix_cases
from harness.golden.source import ModelSource, log_format_of


def folder_digest(folder: Path) -> str:
    """The hub folder's files (names and contents, caches left out): what decides how its entries build."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + sha256_file(path).encode())
    return digest.hexdigest()


def fingerprint_part(entry: ModelEntry) -> dict[str, Any]:
    assert entry.hub is not None
    return {**entry.origin(), "hub_sha256": folder_digest(entry.hub) if entry.hub.is_dir() else None,
            "weights_sha256": sha256_file(entry.weights) if entry.weights and entry.weights.is_file() else None,
            "vocab_sha256": sha256_file(entry.vocab) if entry.vocab and entry.vocab.is_file() else None}


def _next_template_cases(entry: ModelEntry, vocab_size: int, source: ModelSource, rng) -> tuple[dict, dict]:
    assert entry.window is not None
    cases = id_window_cases(rng, vocab_size, entry.window)
    facts: dict[str, Any] = {}
    if entry.vocab is not None and source.hub_log is not None:
        fmt = log_format_of(source.hub_log, source.format)
        windows = _log_windows(entry, vocab_size, source.hub_log, fmt)
        cases[f"log-windows-b{len(windows)}"] = windows
        facts = {"log": str(source.hub_log), "log_format": fmt}
    return cases, facts


def _log_windows(entry: ModelEntry, vocab_size: int, log: Path, fmt: str):
    """The windows the detector builds from ``log`` with the entry's vocab, as it would run them."""
    from converter import logformats
    from converter import vocab as vocab_mod

    assert entry.vocab is not None and entry.window is not None
    training_vocab = vocab_mod.load_training_vocab(entry.vocab)
    vocab_mod.check_vocab_size(training_vocab, vocab_size, f"[model.{entry.name}] vocab {entry.vocab}",
                               f"the model scores {vocab_size} templates (its output width)")
    windows = detector_windows(log, training_vocab, logformats.HEADER_FIELDS[fmt], entry.window)
    if len(windows) == 0:
        raise AlogError(f"no window of {log} matches [model.{entry.name}] vocab {entry.vocab}: is it the log the "
                        "vocab was built from?")
    return windows


def hub_golden(entry: ModelEntry, source: ModelSource, out: Path, seed: int, rng
               ) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(manifest entry, cases) of one hub entry; cases None with the manifest's "error" when it cannot be
    built, weighted or run here."""
    from converter import hub

    assert entry.hub is not None
    record: dict[str, Any] = {"origin": entry.origin(), "interface": entry.interface}
    try:
        if entry.weights is not None:
            weights = entry.weights
            loaded = hub.load(entry.hub_entry(weights))
        else:  # built once under the run's seed; every cell loads these weights
            loaded = hub.load(entry.hub_entry(None), seed=seed)
            weights = out / f"{entry.name}.pth"
            hub.save_weights(loaded.module, weights)
        if entry.interface == "next-template":
            assert loaded.vocab_size is not None
            cases, facts = _next_template_cases(entry, loaded.vocab_size, source, rng)
        else:
            assert entry.shape is not None
            cases, facts = matrix_cases(rng, *entry.shape), {}
    except AlogError as exc:
        return {**record, "error": str(exc)}, None
    except Exception as exc:  # noqa: BLE001 - the team's code: whatever it raises is recorded, the run goes on
        return {**record, "error": describe(exc)}, None
    record.update(weights=weights, vocab_size=loaded.vocab_size, **facts,
                  config={"entry": entry.entry, "kwargs": dict(entry.kwargs), "interface": entry.interface,
                          "window": entry.window, "shape": list(entry.shape) if entry.shape else None,
                          "vocab_size": loaded.vocab_size})
    record["module"] = loaded.module
    return record, cases
