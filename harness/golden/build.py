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
import tempfile
from pathlib import Path
from typing import Any

from converter import atomic
from converter.atomic import sha256_file
from harness.config.matrix import Matrix
from harness.golden.hub_cases import fingerprint_part, hub_golden
from harness.golden.reference import reference_golden, seed_of, train_reference
from harness.golden.source import CheckedModels, ModelSource, check
from harness.golden.store import FORMAT, FORMAT_VERSION, MANIFEST, Golden, data_file
from harness.ground.protocol import now


def fingerprint(source: ModelSource, matrix: Matrix) -> str:
    """What decides the golden data: the seed, and the team's files (by digest) or, for a reference, [data]."""
    files = {} if source.reference else {k: sha256_file(p) for k in ("deeplog", "vocab", "mscred", "log")
                                         if (p := getattr(source, k))}
    payload = {"version": FORMAT_VERSION, "files": files, "format": source.format, "seed": seed_of(matrix),
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


def _outputs(model, cases: dict[str, Any]) -> dict[str, Any]:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the cells run: one intra-op thread
    try:
        with torch.inference_mode():
            return {name: model(torch.from_numpy(x)).numpy() for name, x in cases.items()}
    finally:
        torch.set_num_threads(threads)


def build(matrix: Matrix, source: ModelSource, out: Path, checked: CheckedModels | None = None,
          wanted: str | None = None) -> Golden:
    """Write ``out`` (manifest + one npz per model) for ``source``; ``checked`` when check() already ran,
    ``wanted`` the fingerprint of the source the run was given (a reference's, before training)."""
    import numpy as np

    from converter import versions

    checked = checked or check(source)
    rng = np.random.default_rng(seed_of(matrix))
    manifest: dict[str, Any] = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "fingerprint": wanted or fingerprint(source, matrix),
        "created": now(), "seed": seed_of(matrix),
        "environment": versions.environment(),
        "source": {"origin": source.origin, "log": str(source.log), "format": checked.log_format,
                   "reference": source.reference},
        "models": {},
        # A run judges the models it was given: one the matrix lists but the source lacks is said once, here.
        "not_given": {m: f"{source.origin} holds no {m}" for m in matrix.models if m not in source.models},
    }
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="golden-", dir=out) as tmp:
        for name in source.models:  # each a reference model or a hub entry: the same record either way
            hub = next((h for h in source.hubs if h.name == name), None)
            record, cases = (hub_golden(hub, source, out, seed_of(matrix), rng) if hub is not None else
                             reference_golden(name, checked, rng, Path(tmp)))
            if cases is not None:
                _write_cases(out / data_file(name), cases, _outputs(record.pop("module"), cases))
                weights = Path(record.pop("weights"))
                record.update(checkpoint=_portable(weights, out), sha256=sha256_file(weights), data=data_file(name),
                              cases=[{"name": k, "shape": list(v.shape), "dtype": str(v.dtype)}
                                     for k, v in cases.items()])
            manifest["models"][name] = record
    # Each data file's digest, in the manifest written after them: a file changed since is no evidence.
    manifest["files"] = {r["data"]: sha256_file(out / r["data"]) for r in manifest["models"].values() if "data" in r}
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
    wanted = fingerprint(source, matrix)  # of the source as given: a reference's, not the files trained from it
    if reuse and (out / MANIFEST).is_file():
        existing = Golden.load(out)
        if existing.manifest.get("fingerprint") == wanted and all(
                existing.checkpoint(m).is_file() for m in existing.models
                if "error" not in existing.model(m)) and not existing.changed_files():
            return existing
    if source.reference:
        source, checked = train_reference(matrix, out / "reference", source), None
    return build(matrix, source, out, checked, wanted)
