"""The golden data of a run, as files: ``<out>/golden/manifest.json`` (provenance: the checkpoint digests,
the torch that computed the outputs, the seed, the cases) and ``<model>.npz`` (each case's input and the
reference PyTorch's output). Written once per run by the golden stage, read by every cell."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from converter.errors import AlogError, read_json
from harness.ground.digests import changed_files

MANIFEST = "manifest.json"
FORMAT = "alog-golden"
FORMAT_VERSION = 1


def data_file(model: str) -> str:
    return f"{model}.npz"


@dataclass
class Golden:
    """A golden folder, read."""

    folder: Path
    manifest: dict[str, Any]

    @classmethod
    def load(cls, folder: Path) -> Golden:
        path = Path(folder) / MANIFEST
        manifest = read_json(path, f"no golden data at {folder} (alog-matrix run makes it before the cells)")
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise AlogError(f"{path} is not a golden manifest")
        return cls(Path(folder), manifest)

    def changed_files(self) -> list[str]:
        """The data files missing or no longer what the manifest recorded (each named; every one for a manifest
        that records none)."""
        files = self.manifest.get("files")
        if not isinstance(files, dict):
            return [f"{self.folder / MANIFEST} records no file digests"]
        return changed_files(files, self.folder)

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(self.manifest["models"])

    def model(self, name: str) -> dict[str, Any]:
        try:
            return self.manifest["models"][name]
        except KeyError:
            raise AlogError(f"the golden data at {self.folder} holds no {name} model") from None

    def checkpoint(self, name: str) -> Path:
        path = Path(self.model(name)["checkpoint"])
        return path if path.is_absolute() else self.folder / path  # the reference lives in the folder

    @property
    def log(self) -> Path:
        return Path(self.manifest["source"]["log"])

    def cases(self, name: str) -> dict[str, tuple[Any, Any]]:
        """case name -> (input, the reference PyTorch's output), in the manifest's order."""
        import numpy as np

        path = self.folder / data_file(name)
        try:
            with np.load(path) as data:
                return {case["name"]: (data[f"in_{case['name']}"], data[f"out_{case['name']}"])
                        for case in self.model(name)["cases"]}
        except (OSError, KeyError, ValueError) as exc:
            raise AlogError(f"cannot read the golden cases of {name} from {path}: {exc}") from None
