"""The golden stage: once per run, in the orchestrator's environment, before any cell.

It takes the team's checkpoints (checked by ``harness.golden.source``) or trains one reference DeepLog and
one reference MSCRED on [data] (seeded), draws a fixed, seeded input set per model (batches 1, 7, 64;
DeepLog lengths 1, L, 2L, 4L+3, edge ids and windows taken from the log itself; MSCRED random matrices,
zeros, constants, sparse ones and the log's own signature matrices), runs the reference PyTorch on them
and writes inputs, outputs and their provenance under ``<out>/golden`` (``harness.golden.store``).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from converter import atomic
from converter.atomic import sha256_file
from converter.errors import AlogError
from harness.config.matrix import Matrix
from harness.config.models import REFERENCE_MODELS
from harness.golden.hub_cases import fingerprint_part, hub_golden
from harness.golden.source import CheckedModels, ModelSource, check
from harness.golden.store import FORMAT, FORMAT_VERSION, MANIFEST, Golden, data_file
from harness.ground.protocol import now

BATCHES = (1, 7, 64)
LOG_WINDOWS = 256  # DeepLog windows from the log, at most
LOG_MATRICES = 64  # MSCRED windows of the log's signature matrices, at most
DEFAULT_SCALES = (10, 30, 60)  # what build-mscred uses when a checkpoint records no scale windows


def fingerprint(source: ModelSource, matrix: Matrix) -> str:
    """What decides the golden data: the seed, and the team's files (by digest) or, for a reference, [data]."""
    files = {} if source.reference else {k: sha256_file(p) for k in ("deeplog", "vocab", "mscred", "log")
                                         if (p := getattr(source, k))}
    payload = {"version": FORMAT_VERSION, "files": files, "format": source.format, "seed": _seed(matrix),
               "hubs": {h.name: fingerprint_part(h) for h in source.hubs},
               "models": list(matrix.models), "data": matrix.data if source.reference else None}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _portable(path: Path, out: Path) -> str:
    """A checkpoint inside the golden folder (the reference) relative to it, so the folder can be moved or
    handed to another checkout (a CI job); a team's own file stays where it is."""
    try:
        return str(path.resolve().relative_to(out.resolve()))
    except ValueError:
        return str(path)


def _seed(matrix: Matrix) -> int:
    return int(matrix.data.get("seed", 7))


def train_reference(matrix: Matrix, folder: Path) -> ModelSource:
    """One reference DeepLog (and MSCRED) on [data], seeded, kept in ``folder`` for anyone to take."""
    from converter.pipeline import train_models
    from harness.golden.training import MSCRED_EPOCHS, TRAIN_EPOCHS, TRAIN_WINDOW, training_log

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    log, fmt = training_log(matrix, folder)
    with tempfile.TemporaryDirectory(prefix="golden-train-", dir=folder.parent) as tmp:
        trained = train_models(log, tmp, fmt=fmt, window=TRAIN_WINDOW, epochs=TRAIN_EPOCHS, seed=_seed(matrix),
                               mscred="mscred" in matrix.models, mscred_epochs=MSCRED_EPOCHS)
        for path in (trained.deeplog_checkpoint, trained.vocab, trained.mscred_checkpoint, trained.parsed):
            if path is not None:
                shutil.copyfile(path, folder / path.name)
    return ModelSource(True, folder / "deeplog.pth" if "deeplog" in matrix.models else None, folder / "vocab.json",
                       folder / "mscred.pth" if trained.mscred_checkpoint else None, log, fmt,
                       f"a reference trained on [data] of {matrix.path}", parsed=folder / trained.parsed.name)


def _deeplog_cases(checked: CheckedModels, rng) -> dict[str, Any]:
    import numpy as np

    from converter import vocab as vocab_mod
    from converter.detection import detect_lines, read_log

    assert checked.deeplog is not None
    config = checked.deeplog.config
    length, size = config.seq_len, config.vocab_size
    cases = {f"random-b{b}-l{n}": rng.integers(0, size, (b, n), dtype=np.int64)
             for b in BATCHES for n in sorted({1, length, 2 * length, 4 * length + 3})}
    cases[f"edges-b7-l{length}"] = np.resize(np.array([0, size - 1], dtype=np.int64), (7, length))
    windows: list[np.ndarray] = []

    def record(x: np.ndarray) -> np.ndarray:  # the detector's own windows, as it would run them
        windows.append(np.array(x))
        return np.zeros((len(x), size), dtype=np.float32)

    engine_vocab = {int(k): v for k, v in vocab_mod.to_engine_format(checked.training_vocab).items()}
    detect_lines(read_log(checked.source.log), engine_vocab, checked.deeplog_payload["extra"]["header_fields"],
                 length, 0, record)
    found = np.concatenate(windows)[:LOG_WINDOWS] if windows else np.zeros((0, length), np.int64)
    if len(found) == 0:
        raise AlogError(f"no window of {checked.source.log} matches the vocab {checked.source.vocab}: is it the "
                        "log the model was trained on?")
    cases[f"log-windows-b{len(found)}"] = found.astype(np.int64)
    return cases


def _mscred_cases(checked: CheckedModels, rng, work: Path) -> dict[str, Any]:
    import numpy as np

    from converter import parsing, signatures

    assert checked.mscred is not None
    config = checked.mscred.config
    shape = (config.step, config.scales, config.sensors, config.sensors)
    cases = {f"random-b{b}": rng.random((b, *shape), dtype=np.float32) for b in BATCHES}
    cases["zeros-b7"] = np.zeros((7, *shape), np.float32)
    cases["constant-b7"] = np.full((7, *shape), 0.5, np.float32)
    sparse = rng.random((7, *shape), dtype=np.float32)
    cases["sparse-b7"] = np.where(rng.random(sparse.shape) < 0.1, sparse, np.float32(0)).astype(np.float32)
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


def _outputs(model, cases: dict[str, Any]) -> dict[str, Any]:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the cells run: one intra-op thread
    try:
        with torch.inference_mode():
            return {name: model(torch.from_numpy(x)).numpy() for name, x in cases.items()}
    finally:
        torch.set_num_threads(threads)


def build(matrix: Matrix, source: ModelSource, out: Path, checked: CheckedModels | None = None) -> Golden:
    """Write ``out`` (manifest + one npz per model) for ``source``; ``checked`` when check() already ran."""
    import numpy as np

    from converter import versions

    checked = checked or check(source)
    rng = np.random.default_rng(_seed(matrix))
    manifest: dict[str, Any] = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "fingerprint": fingerprint(source, matrix),
        "created": now(), "seed": _seed(matrix),
        "environment": versions.environment(),
        "source": {"origin": source.origin, "log": str(source.log), "format": checked.log_format,
                   "reference": source.reference},
        "models": {},
        # A run judges the models it was given: one the matrix lists but the source lacks is said once, here.
        "not_given": {m: f"{source.origin} holds no {m}" for m in matrix.models if m not in source.models},
    }
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="golden-", dir=out) as tmp:
        for name in (m for m in source.models if m in REFERENCE_MODELS):
            model = checked.deeplog if name == "deeplog" else checked.mscred
            assert model is not None  # check() loaded every model the source names
            cases = _deeplog_cases(checked, rng) if name == "deeplog" else _mscred_cases(checked, rng, Path(tmp))
            _write_cases(out / data_file(name), cases, _outputs(model, cases))
            checkpoint = Path(getattr(source, name))
            entry: dict[str, Any] = {
                "checkpoint": _portable(checkpoint, out), "sha256": sha256_file(checkpoint),
                "config": model.config.to_dict(), "data": data_file(name),
                "cases": [{"name": k, "shape": list(v.shape), "dtype": str(v.dtype)} for k, v in cases.items()],
            }
            if name == "deeplog":
                entry.update(vocab=str(source.vocab), vocab_sha256=sha256_file(Path(source.vocab or "")))
            manifest["models"][name] = entry
        for hub in source.hubs:
            record, hub_cases_ = hub_golden(hub, source, out, _seed(matrix), rng)
            if hub_cases_ is not None:
                outputs = _outputs(record.pop("module"), hub_cases_)
                _write_cases(out / data_file(hub.name), hub_cases_, outputs)
                record.update(checkpoint=_portable(record.pop("weights"), out), data=data_file(hub.name),
                              cases=[{"name": k, "shape": list(v.shape), "dtype": str(v.dtype)}
                                     for k, v in hub_cases_.items()])
            manifest["models"][hub.name] = record
    atomic.write_json(out / MANIFEST, manifest)
    return Golden(out, manifest)


def _write_cases(path: Path, cases: dict[str, Any], outputs: dict[str, Any]) -> None:
    import numpy as np

    arrays = {**{f"in_{k}": v for k, v in cases.items()}, **{f"out_{k}": v for k, v in outputs.items()}}
    with atomic.atomic_path(path) as target, open(target, "wb") as handle:
        np.savez(handle, **arrays)


def prepare(matrix: Matrix, source: ModelSource, out: Path, reuse: bool,
            checked: CheckedModels | None = None) -> Golden:
    """The run's golden data: the existing folder when ``reuse`` and its fingerprint still matches (the
    cells kept from an earlier run were checked against it), else made anew."""
    if reuse and (out / MANIFEST).is_file():
        existing = Golden.load(out)
        if existing.manifest.get("fingerprint") == fingerprint(source, matrix) and all(
                existing.checkpoint(m).is_file() for m in existing.models
                if "error" not in existing.model(m)):
            return existing
    if source.reference:
        source, checked = train_reference(matrix, out / "reference"), None
    return build(matrix, source, out, checked)
