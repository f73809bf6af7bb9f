"""Versions of everything that changes an export's outcome, read without importing the packages."""

from __future__ import annotations

import platform
from importlib import metadata

PACKAGES = ("torch", "numpy", "onnx", "onnxscript", "onnxruntime")


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def environment() -> dict[str, str | None]:
    from converter import __version__

    info: dict[str, str | None] = {"python": platform.python_version(), "platform": platform.platform()}
    info.update({name: package_version(name) for name in PACKAGES})
    info["alog_detect"] = __version__
    return info

