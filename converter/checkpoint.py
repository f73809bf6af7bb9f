"""Our checkpoints: state_dict + config + provenance, written atomically, read with clear errors."""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, overload

import torch

from converter import artifacts, atomic, logformats
from converter.errors import AlogError
from converter.models import MSCRED, DeepLog, DeepLogConfig, MSCREDConfig

FORMAT = "alog-detect-checkpoint"
FORMAT_VERSION = 1
KINDS = {"deeplog": (DeepLog, DeepLogConfig), "mscred": (MSCRED, MSCREDConfig)}


def vocab_digest(vocab: dict[str, int]) -> str:
    """Ties a DeepLog checkpoint to the exact vocab it was trained on."""
    return hashlib.sha256(json.dumps(vocab, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def save(path: str | Path, kind: str, model: DeepLog | MSCRED, extra: dict[str, Any] | None = None) -> None:
    # Everything but the tensors travels as JSON text: torch 1.13's weights_only unpickler refuses
    # floats (and newer ones refuse types like TorchVersion), so plain strings keep every torch happy.
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "config": json.dumps(model.config.to_dict()),
        "state_dict": model.state_dict(),
        "extra": json.dumps(extra or {}),
        "torch": str(torch.__version__),
    }
    with atomic.atomic_path(path) as tmp, open(tmp, "wb") as fh:
        torch.save(payload, fh)  # a file object: a full disk is an OSError, not torch's RuntimeError


def takes_weights_only(load: Callable[..., Any]) -> bool:
    """Whether ``load`` has a ``weights_only`` parameter of its own (taken from its signature).

    A keyword swallowed by ``**kwargs`` does not count: an old torch.load hands it on to pickle.
    """
    try:
        parameter = inspect.signature(load).parameters.get("weights_only")
    except (TypeError, ValueError):  # no signature to read
        return False
    return parameter is not None and parameter.kind in (inspect.Parameter.KEYWORD_ONLY,
                                                        inspect.Parameter.POSITIONAL_OR_KEYWORD)


def torch_load_safely(path: Path, load: Callable[..., Any] = torch.load) -> Any:
    """The restricted (weights-only) unpickler, or a refusal: a user's file is never fully unpickled.

    Whether the keyword exists is read from the signature, never guessed from an exception: a crafted
    file can make the safe unpickler itself raise TypeError, and a retry without the keyword would
    then run the file's code.
    """
    if not takes_weights_only(load):
        raise AlogError(f"cannot read {path} safely: torch {torch.__version__}'s torch.load has no weights_only "
                        "(install torch >= 1.13.1)")
    return load(str(path), map_location="cpu", weights_only=True)


def read_torch_file(path: str | Path, what: str = "checkpoint") -> Any:
    """What ``torch.save`` wrote to ``path``, read weights-only; any way it cannot be read is one line."""
    path = Path(path)
    if not path.is_file():
        raise AlogError(f"{what} not found: {path}" if not path.exists() else f"{what} {path} is not a file")
    if not zipfile.is_zipfile(path):
        raise AlogError(f"{path} is not a PyTorch {what} (not a torch.save zip archive; truncated or another "
                        "format?)")
    try:
        return torch_load_safely(path)
    except AlogError:
        raise
    except Exception as exc:  # noqa: BLE001 - truncated archives and foreign pickles fail in many ways
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise AlogError(f"{path} cannot be read as a {what} ({type(exc).__name__}: {first})") from None


@overload
def load(path: str | Path, kind: Literal["deeplog"]) -> tuple[DeepLog, dict[str, Any]]: ...
@overload
def load(path: str | Path, kind: Literal["mscred"]) -> tuple[MSCRED, dict[str, Any]]: ...
@overload
def load(path: str | Path, kind: str) -> tuple[DeepLog | MSCRED, dict[str, Any]]: ...


def load(path: str | Path, kind: str) -> tuple[DeepLog | MSCRED, dict[str, Any]]:
    """Rebuild the model of ``kind`` from ``path``; every way this can go wrong is one clear line."""
    path = Path(path)
    payload = read_torch_file(path)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise AlogError(f"{path} is a PyTorch file but not an alog-detect checkpoint (train one with alog-detect "
                        f"{kind}-train)")
    if payload.get("kind") != kind:
        raise AlogError(f"{path} holds a {payload.get('kind')} model, but a {kind} checkpoint is needed here")
    model_cls, config_cls = KINDS[kind]
    config = config_cls(**_checked_config(path, config_cls, _json_text(path, payload, "config", None)))
    payload["config"] = config.to_dict()
    payload["extra"] = _checked_extra(path, kind, _json_text(path, payload, "extra", "{}"), config)
    _check_sizes(path, config, payload.get("state_dict"))
    try:
        model = model_cls(config)
        model.load_state_dict(payload["state_dict"])
    except Exception as exc:  # noqa: BLE001
        raise AlogError(f"{path}: the checkpoint's weights do not fit its config ({type(exc).__name__}: "
                        f"{(str(exc).splitlines() or [''])[0][:200]})") from None
    model.eval()
    return model, payload


# What a checkpoint's config and extra fields may hold. They reach the meta file the C engine reads
# (vocab_size, seq_len, header_fields, ...), so they are checked before anything is exported.
MAX_HEADER_FIELDS = artifacts.BOUNDS["header_fields"][1]  # the engine's own limit
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


def _json_text(path: Path, payload: dict, name: str, default: str | None) -> Any:
    text = payload.get(name, default)
    try:
        if not isinstance(text, str):
            raise TypeError
        return json.loads(text)
    except (TypeError, ValueError):
        raise AlogError(f"{path}: the checkpoint's {name} is not JSON text (found {_shown(text)})") from None


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_count(value: Any, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _checked_config(path: Path, config_cls: type, data: Any) -> dict[str, Any]:
    """The config as keyword arguments: known fields only, every one a positive integer."""
    if not isinstance(data, dict):
        raise AlogError(f"{path}: the checkpoint's config must be a JSON object, found {_shown(data)}")
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(data) - set(fields))
    missing = [name for name, f in fields.items() if name not in data and f.default is dataclasses.MISSING]
    if unknown or missing:
        what = f"unknown field {unknown[0]!r}" if unknown else f"no {missing[0]!r}"
        raise AlogError(f"{path}: the checkpoint's config has {what}")
    checked = dict(data)
    for name, value in data.items():
        if name == "channels":
            ok = isinstance(value, list) and len(value) == 3 and all(artifacts.in_bounds(name, v) for v in value)
            checked[name] = tuple(value) if ok else value
            expected = f"three integers from {artifacts.BOUNDS[name][0]} to {artifacts.BOUNDS[name][1]}"
        else:
            ok, expected = artifacts.in_bounds(name, value), artifacts.bounds_text(name)
        if not ok:
            raise AlogError(f"{path}: config field {name} is {_shown(value)}; expected {expected}")
    return checked


def _checked_extra(path: Path, kind: str, extra: Any, config) -> dict[str, Any]:
    """The extra fields the converter copies or uses, checked; absent ones get their defaults."""
    if not isinstance(extra, dict):
        raise AlogError(f"{path}: the checkpoint's extra fields must be a JSON object, found {_shown(extra)}")

    def refuse(name: str, expected: str) -> AlogError:
        return AlogError(f"{path}: extra field {name} is {_shown(extra[name])}; expected {expected}")

    checked = dict(extra)
    if kind == "deeplog":
        fmt = extra.get("log_format", "raw")
        if not isinstance(fmt, str) or fmt not in logformats.FORMATS:
            raise refuse("log_format", f"one of {', '.join(logformats.FORMATS)}")
        fields = extra.get("header_fields", logformats.HEADER_FIELDS[fmt])
        if not _is_count(fields, 0) or fields > MAX_HEADER_FIELDS:
            raise refuse("header_fields", f"a whole number from 0 to {MAX_HEADER_FIELDS}")
        if "log_format" in extra and fields != logformats.HEADER_FIELDS[fmt]:
            raise refuse("header_fields", f"{logformats.HEADER_FIELDS[fmt]}, the header fields of log format {fmt}")
        digest = extra.get("vocab_sha256")
        if digest is not None and not (isinstance(digest, str) and _SHA256.fullmatch(digest)):
            raise refuse("vocab_sha256", "a SHA-256 digest (64 hex digits)")
        checked.update(log_format=fmt, header_fields=fields, vocab_sha256=digest.lower() if digest else None)
    elif kind == "mscred":
        windows = extra.get("scale_windows")
        if windows is not None and not (isinstance(windows, list) and len(windows) == config.scales
                                        and all(_is_count(w, 1) for w in windows)):
            raise refuse("scale_windows", f"a list of {config.scales} positive integers (a window per scale)")
        checked["scale_windows"] = windows
    return checked


def _check_sizes(path: Path, config, state_dict: Any) -> None:
    """Refuse, before the model is built, a config whose model would be too large or is not the one whose
    weights the file holds (those are in memory already, so a match costs no more than the file did)."""
    expected = config.parameter_count()
    if expected > artifacts.MAX_PARAMETERS:
        raise AlogError(f"{path}: the checkpoint's config describes a model of {expected} parameters "
                        f"(at most {artifacts.MAX_PARAMETERS})")
    if isinstance(config, MSCREDConfig):
        sample = config.step * config.scales * config.sensors ** 2
        if sample > artifacts.MAX_SAMPLE_ELEMENTS:
            raise AlogError(f"{path}: the checkpoint's config makes inputs of {sample} values per sample "
                            f"(step x scales x sensors^2, at most {artifacts.MAX_SAMPLE_ELEMENTS})")
    tensors = state_dict.values() if isinstance(state_dict, dict) else ()
    held = sum(t.numel() for t in tensors if isinstance(t, torch.Tensor))
    if held != expected:
        raise AlogError(f"{path}: the checkpoint's weights do not fit its config (it holds {held} parameters, "
                        f"the config describes {expected})")
