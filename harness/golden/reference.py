"""The two reference models' golden data: one DeepLog and one MSCRED trained once per run on [data]
(seeded) or a team's alog-detect checkpoints, and the fixed, seeded inputs of each (batches 1, 7, 64;
DeepLog lengths 1, L, 2L, 4L+3, edge ids and up to 256 windows of the log; MSCRED random, zero, constant and
sparse matrices and the log's own signature matrices). A hub entry's are ``harness.golden.hub_cases``'.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from converter.errors import AlogError
from harness.config.matrix import Matrix
from harness.golden.cases import detector_windows, id_window_cases, matrix_cases
from harness.golden.source import CheckedModels, ModelSource

LOG_MATRICES = 64  # MSCRED windows of the log's signature matrices, at most
DEFAULT_SCALES = (10, 30, 60)  # what build-mscred uses when a checkpoint records no scale windows


def seed_of(matrix: Matrix) -> int:
    return int(matrix.data.get("seed", 7))


def train_reference(matrix: Matrix, folder: Path, source: ModelSource) -> ModelSource:
    """One reference DeepLog (and MSCRED) on [data], seeded, kept in ``folder`` for anyone to take."""
    from converter.pipeline import train_models
    from harness.golden.training import MSCRED_EPOCHS, TRAIN_EPOCHS, TRAIN_WINDOW, training_log

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    log, fmt = training_log(matrix, folder)
    with tempfile.TemporaryDirectory(prefix="golden-train-", dir=folder.parent) as tmp:
        trained = train_models(log, tmp, fmt=fmt, window=TRAIN_WINDOW, epochs=TRAIN_EPOCHS, seed=seed_of(matrix),
                               mscred="mscred" in matrix.models, mscred_epochs=MSCRED_EPOCHS)
        for path in (trained.deeplog_checkpoint, trained.vocab, trained.mscred_checkpoint, trained.parsed):
            if path is not None:
                shutil.copyfile(path, folder / path.name)
    return ModelSource(True, folder / "deeplog.pth" if "deeplog" in matrix.models else None, folder / "vocab.json",
                       folder / "mscred.pth" if trained.mscred_checkpoint else None, log, fmt,
                       f"a reference trained on [data] of {matrix.path}", parsed=folder / trained.parsed.name,
                       hubs=source.hubs, hub_log=source.hub_log)


def _deeplog_cases(checked: CheckedModels, rng) -> dict[str, Any]:
    assert checked.deeplog is not None and checked.source.log is not None
    config = checked.deeplog.config
    cases = id_window_cases(rng, config.vocab_size, config.seq_len)
    found = detector_windows(checked.source.log, checked.training_vocab,
                             checked.deeplog_payload["extra"]["header_fields"], config.seq_len)
    if len(found) == 0:
        raise AlogError(f"no window of {checked.source.log} matches the vocab {checked.source.vocab}: is it the "
                        "log the model was trained on?")
    cases[f"log-windows-b{len(found)}"] = found
    return cases


def _mscred_cases(checked: CheckedModels, rng, work: Path) -> dict[str, Any]:
    from converter import parsing, signatures

    assert checked.mscred is not None
    config = checked.mscred.config
    cases = matrix_cases(rng, config.step, config.scales, config.sensors)
    scales = checked.mscred_payload["extra"].get("scale_windows") or DEFAULT_SCALES[:config.scales]
    parsed = checked.source.parsed or work / "golden-parsed.parquet"
    if checked.source.parsed is None:
        parsing.parse_log(checked.source.log, parsed, fmt=checked.log_format)
    signatures.build_signatures(parsed, work, scales=tuple(scales), step=config.step)
    matrices = signatures.load_signatures(work / signatures.SIGNATURES_FILE)["signatures"]
    if matrices.shape[-1] != config.sensors:
        raise AlogError(f"{checked.source.log} gives {matrices.shape[-1]} sensors (templates) but "
                        f"{checked.source.mscred} expects {config.sensors}: is it the log the model was trained on?")
    cases[f"log-matrices-b{min(LOG_MATRICES, len(matrices) - config.step + 1)}"] = \
        signatures.make_windows(matrices, config.step)[:LOG_MATRICES]
    return cases


def reference_golden(name: str, checked: CheckedModels, rng, work: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(manifest record with the model and its weights' path, cases) of a reference model (checked by
    ``harness.golden.source.check``)."""
    from converter.atomic import sha256_file

    source = checked.source
    model = checked.deeplog if name == "deeplog" else checked.mscred
    assert model is not None  # check() loaded every model the source names
    cases = _deeplog_cases(checked, rng) if name == "deeplog" else _mscred_cases(checked, rng, work)
    record: dict[str, Any] = {"weights": Path(getattr(source, name)), "config": model.config.to_dict(),
                              "module": model}
    if name == "deeplog":
        record.update(vocab=str(source.vocab), vocab_sha256=sha256_file(Path(source.vocab or "")))
    return record, cases
