"""The ``--artifacts DIR`` layout: artifacts made in another environment, found by the parity suite."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from converter import artifacts
from converter.errors import AlogError
from harness.parity.hubs import HUBS_FILE, HUBS_LAYOUT
from harness.parity.subjects import Subject, read_meta, subject_from_files

ARTIFACTS_LAYOUT = """\
--artifacts DIR accepts an artifact set, a folder of sets (one per subfolder, e.g. DIR/HDFS, DIR/BGL),
a single model directory, or a folder of model directories (e.g. DIR/legacy, DIR/dynamo).
An artifact set is a folder holding:
  deeplog.pth          DeepLog checkpoint (alog-detect format)            } at least one of the two,
  mscred.pth           MSCRED checkpoint (alog-detect format)             } or hubs.json
  replay.log           optional: the log replayed for verdict parity; without it the Loghub
                       sample of the checkpoint's log format (hdfs, bgl, openssh) is used
""" + HUBS_LAYOUT + """
  <label>/             one model directory per export (label = strategy: legacy, dynamo, auto):
      deeplog.onnx + deeplog.onnx.meta.json + vocab.json (engine format)
      mscred.onnx + mscred.onnx.meta.json
A single model directory (deeplog.onnx / mscred.onnx + meta) finds its checkpoint through the meta's
"source" (as convert-onnx writes it: absolute, or relative to the directory or its parent); its label
is the directory's name. The meta's export record says which exporter and torch produced each file."""


# The reference models' files; a hub model's artifacts are where DIR/hubs.json says (harness.parity.hubs).
MODEL_FILES = {"deeplog": artifacts.DEEPLOG_ONNX, "mscred": artifacts.MSCRED_ONNX}


@dataclass
class ArtifactSet:
    name: str
    root: Path
    deeplog_checkpoint: Path | None
    mscred_checkpoint: Path | None
    model_dirs: dict[str, Path]  # label -> model directory
    replay_log: Path | None = None

    def checkpoint_of(self, model_type: str) -> Path | None:
        return self.deeplog_checkpoint if model_type == "deeplog" else self.mscred_checkpoint

    def subject(self, model_type: str, label: str) -> Subject:
        ckpt = self.checkpoint_of(model_type)
        if ckpt is None:
            raise AlogError(f"artifact set {self.root} has no {model_type} checkpoint")
        onnx_path = self.model_dirs[label] / MODEL_FILES[model_type]
        if not onnx_path.is_file():
            raise AlogError(f"{onnx_path} not found")
        return subject_from_files(f"{self.name}/{label}", model_type, ckpt, onnx_path)

    def labels(self, model_type: str) -> list[str]:
        if self.checkpoint_of(model_type) is None:
            return []
        return [label for label, d in self.model_dirs.items() if (d / MODEL_FILES[model_type]).is_file()]


def _is_model_dir(path: Path) -> bool:
    return path.is_dir() and any((path / name).is_file() for name in MODEL_FILES.values())


def _artifact_set(root: Path, name: str) -> ArtifactSet | None:
    deeplog, mscred = root / "deeplog.pth", root / "mscred.pth"
    if not deeplog.is_file() and not mscred.is_file():
        return None
    model_dirs = {d.name: d for d in sorted(root.iterdir()) if not d.name.startswith(".") and _is_model_dir(d)}
    if not model_dirs:
        raise AlogError(f"artifact set {root} has checkpoints but no model directory (<label>/deeplog.onnx)")
    replay = root / "replay.log"
    return ArtifactSet(name, root, deeplog if deeplog.is_file() else None, mscred if mscred.is_file() else None,
                       model_dirs, replay if replay.is_file() else None)


def _source_checkpoint(model_dir: Path, model_type: str) -> Path | None:
    onnx_path = model_dir / MODEL_FILES[model_type]
    if not onnx_path.is_file():
        return None
    source = read_meta(onnx_path).get("source")
    if not source:
        raise AlogError(f"{artifacts.meta_path(onnx_path)} names no source checkpoint (\"source\")")
    source = Path(source)
    candidates = [source] if source.is_absolute() else [model_dir / source, model_dir.parent / source]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise AlogError(f"{onnx_path.name}'s source checkpoint {source} not found (looked in "
                    f"{', '.join(str(c.parent) for c in candidates)})")


def _model_dir_set(model_dir: Path) -> ArtifactSet:
    replay = model_dir / "replay.log"
    return ArtifactSet(model_dir.name, model_dir, _source_checkpoint(model_dir, "deeplog"),
                       _source_checkpoint(model_dir, "mscred"), {model_dir.name: model_dir},
                       replay if replay.is_file() else None)


def discover_artifacts(directory: str | Path) -> list[ArtifactSet]:
    """The artifact sets in ``directory`` (see ARTIFACTS_LAYOUT); a clear error when there is none."""
    directory = Path(directory)
    if not directory.is_dir():
        raise AlogError(f"--artifacts {directory}: not a directory")
    single = _artifact_set(directory, directory.name)
    if single is not None:
        return [single]
    if _is_model_dir(directory):
        return [_model_dir_set(directory)]
    folders = [d for d in sorted(directory.iterdir()) if d.is_dir() and not d.name.startswith(".")]
    sets = [s for d in folders for s in [_artifact_set(d, d.name)] if s is not None]
    if not sets:  # a folder of model directories (e.g. models/legacy, models/dynamo): each its own set
        sets = [_model_dir_set(d) for d in folders if _is_model_dir(d)]
    if not sets and (directory / HUBS_FILE).is_file():  # a cell that judges only a team's hub models
        return []
    if not sets:
        raise AlogError(f"--artifacts {directory}: no deeplog.pth or mscred.pth in it or its subfolders, no "
                        f"model directory and no {HUBS_FILE} (see: python -m harness.parity layout)")
    return sets


def strategies_for(sets: list[ArtifactSet], model_type: str, known: tuple[str, ...]) -> tuple[str, ...]:
    """The export strategies (of ``known``, in that order) that produced ``model_type``'s artifacts in ``sets``.

    Parity judges numbers on the exporters that made the files under test: a strategy that exported
    another model but not this one is not this model's concern (its export failure belongs to the export
    checks). ``auto`` writes the file of ``dynamo`` or ``legacy``, so it counts only when it is the only one.
    """
    return strategies_among([label for st in sets for label in st.labels(model_type)], known)


def strategies_among(labels, known: tuple[str, ...]) -> tuple[str, ...]:
    """The strategies (of ``known``, in that order) among artifact ``labels``, ``auto`` only when alone: what
    the suite exports its own copies with."""
    present = set(labels)
    found = [s for s in known if s in present]
    return tuple(s for s in found if s != "auto") or tuple(found)

