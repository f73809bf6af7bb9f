"""Our checkpoints: state_dict + config + provenance, written atomically, read with clear errors."""

from __future__ import annotations

import hashlib
import inspect
import json
import zipfile
from pathlib import Path
from typing import Any, Callable

import torch

from converter import atomic
from converter.errors import AlogError
from converter.models import MSCRED, DeepLog, DeepLogConfig, MSCREDConfig

FORMAT = "alog-detect-checkpoint"
FORMAT_VERSION = 1
KINDS = {"deeplog": (DeepLog, DeepLogConfig), "mscred": (MSCRED, MSCREDConfig)}


def vocab_digest(vocab: dict[str, int]) -> str:
    """Ties a DeepLog checkpoint to the exact vocab it was trained on."""
    return hashlib.sha256(json.dumps(vocab, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def save(path: str | Path, kind: str, model: torch.nn.Module, extra: dict[str, Any] | None = None) -> None:
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
    with atomic.atomic_path(path) as tmp:
        torch.save(payload, str(tmp))


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


def load(path: str | Path, kind: str) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild the model of ``kind`` from ``path``; every way this can go wrong is one clear line."""
    path = Path(path)
    if not path.is_file():
        raise AlogError(f"checkpoint not found: {path}" if not path.exists() else f"checkpoint {path} is not a file")
    if not zipfile.is_zipfile(path):
        raise AlogError(f"{path} is not a PyTorch checkpoint (not a torch.save zip archive; truncated or another format?)")
    try:
        payload = torch_load_safely(path)
    except AlogError:
        raise
    except Exception as exc:  # noqa: BLE001 - truncated archives and foreign pickles fail in many ways
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise AlogError(f"{path} cannot be read as a checkpoint ({type(exc).__name__}: {first})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise AlogError(f"{path} is a PyTorch file but not an alog-detect checkpoint (train one with alog-detect {kind}-train)")
    if payload.get("kind") != kind:
        raise AlogError(f"{path} holds a {payload.get('kind')} model, but a {kind} checkpoint is needed here")
    model_cls, config_cls = KINDS[kind]
    try:
        payload["extra"] = json.loads(payload.get("extra") or "{}")
        config_data = payload["config"] = json.loads(payload["config"])
        if "channels" in config_data:
            config_data["channels"] = tuple(config_data["channels"])
        model = model_cls(config_cls(**config_data))
        model.load_state_dict(payload["state_dict"])
    except Exception as exc:  # noqa: BLE001
        raise AlogError(f"{path}: the checkpoint's weights do not fit its config ({type(exc).__name__}: "
                        f"{(str(exc).splitlines() or [''])[0][:200]})") from None
    model.eval()
    return model, payload
