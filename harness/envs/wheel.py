"""One wheel of the running alog-detect, for the cell and runtime venvs to install.

A venv never points into a source tree: it installs this wheel, made from exactly the code the
orchestrator runs (the ``converter``, ``harness`` and ``alog_cengine`` packages as they are imported here)
and the installed distribution's metadata (its dependencies and extras, its console scripts). The archive
is deterministic (sorted entries, fixed timestamps and modes), so the same source gives the same bytes;
it is cached under its content digest and built again only when the code changes.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import importlib.util
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

from converter.atomic import write_bytes
from converter.errors import AlogError
from harness.ground.paths import ROOT

DISTRIBUTION = "alog-detect"
PACKAGES = ("converter", "harness")
ENGINE_PACKAGE = "alog_cengine"  # the C engine's sources (cengine/ of the checkout), shipped as package data
SKIPPED_PARTS = {"__pycache__", "bin", "obj", "third_party", ".pytest_cache"}
SKIPPED_SUFFIXES = {".pyc", ".pyo", ".o", ".d"}
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the oldest time a zip holds: no build time inside the archive


@dataclass(frozen=True)
class ProjectWheel:
    path: Path
    digest: str  # sha256 of the archive: what a venv's stamp records
    requires: str  # sha256 of the dependency metadata: a change rebuilds the venvs, a code change does not


def engine_sources() -> Path:
    """The C engine's source folder: the checkout's cengine/, or the installed ``alog_cengine`` package."""
    checkout = ROOT / "cengine"
    if (checkout / "Makefile").is_file():
        return checkout
    return _package_dir(ENGINE_PACKAGE)


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise AlogError(f"cannot find the {name} package of alog-detect: reinstall alog-detect")
    return Path(next(iter(spec.submodule_search_locations)))


def _files(folder: Path, prefix: str) -> list[tuple[str, Path]]:
    found = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if path.is_dir() or SKIPPED_PARTS & set(relative.parts) or path.suffix in SKIPPED_SUFFIXES:
            continue
        found.append((f"{prefix}/{relative.as_posix()}", path))
    return found


def requirements(extras: tuple[str, ...]) -> list[str]:
    """The installed alog-detect's dependencies with ``extras``, as requirement strings (markers evaluated)."""
    from packaging.requirements import Requirement

    wanted = []
    for text in importlib.metadata.requires(DISTRIBUTION) or []:
        requirement = Requirement(text)
        marker = requirement.marker
        if marker is None or any(marker.evaluate({"extra": extra}) for extra in extras):
            requirement.marker = None
            wanted.append(str(requirement))
    return wanted


def _metadata() -> tuple[str, str, str]:
    """(version, METADATA text, entry_points.txt text) of the installed alog-detect."""
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise AlogError(f"{DISTRIBUTION} is not installed in this Python (pip install \".[harness]\" in its checkout, "
                        "or pip install \"alog-detect[harness]\"): its cells cannot install it") from None
    metadata = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
    if not metadata:
        raise AlogError(f"the installed {DISTRIBUTION} has no METADATA: reinstall it")
    return dist.version, metadata, dist.read_text("entry_points.txt") or ""


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def _archive(entries: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


_BUILT: dict[tuple, ProjectWheel] = {}  # one archive per unchanged source tree and folder, within a process


def build_wheel(folder: Path, write: bool = True) -> ProjectWheel:
    """The wheel of the code running here, in ``folder/<digest>/`` (reused when it is already there). With
    ``write=False`` only its digests are computed: nothing is written before a run has checked its inputs."""
    version, metadata, entry_points = _metadata()
    sources = [f for package in PACKAGES for f in _files(_package_dir(package), package)]
    sources += _files(engine_sources(), ENGINE_PACKAGE)
    stats = tuple((name, (found := path.stat()).st_size, found.st_mtime_ns) for name, path in sources)
    key = (str(folder), version, metadata, entry_points, stats)
    if key in _BUILT and (_BUILT[key].path.is_file() or not write):
        return _BUILT[key]
    entries = [(name, path.read_bytes()) for name, path in sources]
    dist_info = f"alog_detect-{version}.dist-info"
    wheel_meta = "Wheel-Version: 1.0\nGenerator: alog-detect\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    entries += [(f"{dist_info}/METADATA", metadata.encode()), (f"{dist_info}/WHEEL", wheel_meta.encode()),
                (f"{dist_info}/entry_points.txt", entry_points.encode())]
    record = "\n".join([_record_line(n, d) for n, d in entries] + [f"{dist_info}/RECORD,,"]) + "\n"
    entries.append((f"{dist_info}/RECORD", record.encode()))
    data = _archive(entries)
    digest = hashlib.sha256(data).hexdigest()
    requires = hashlib.sha256("\n".join(line for line in metadata.splitlines()
                                        if line.startswith(("Requires-Dist:", "Provides-Extra:"))).encode()).hexdigest()
    path = folder / digest[:16] / f"alog_detect-{version}-py3-none-any.whl"
    if write and (not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != digest):
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes(path, data)
    _BUILT[key] = ProjectWheel(path, digest, requires)
    return _BUILT[key]
