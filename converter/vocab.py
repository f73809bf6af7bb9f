"""Template vocabularies, in the two shapes the project uses, and the checks that keep them apart.

- training vocab ``{"template string": index}``: what models are trained with. Indices 0..n-1 are
  given in sorted template order, so the same templates always get the same indices.
- engine vocab ``{"0": "template string", ...}``: the same mapping inverted, shipped beside the
  ONNX model for the C engine (converter.artifacts.ENGINE_VOCAB).

Older pipelines keyed vocabularies by Drain3 cluster id (``{"17": 0}``). Cluster ids depend on
the order lines were mined in, so such a vocab silently mislabels templates on any other run;
we refuse it everywhere and offer ``alog-detect fix-vocab`` to convert one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from converter import atomic
from converter.errors import AlogError

_CLUSTER_ID = re.compile(r"\d{1,9}")
FIX_VOCAB_WARNING = (
    "fix-vocab keeps the model's old indices; retraining on a vocab freshly built by "
    "`alog-detect build-deeplog` is the safer path"
)


def build_training_vocab(templates: Iterable[str]) -> dict[str, int]:
    """``{template: index}`` with indices given in sorted template order (stable across runs)."""
    return {template: index for index, template in enumerate(sorted(set(templates)))}


def to_engine_format(training_vocab: Mapping[str, int]) -> dict[str, str]:
    """``{"0": template, ...}`` in index order, as the C engine reads it."""
    _check_training(dict(training_vocab), "vocab")
    return {str(index): template for template, index in sorted(training_vocab.items(), key=lambda kv: kv[1])}


def _read_json_object(path: str | Path, what: str) -> dict:
    path = Path(path)
    if not path.is_file():
        raise AlogError(f"{what} not found: {path}")

    def no_duplicate_keys(pairs):
        seen = {}
        for key, value in pairs:
            if key in seen:
                raise AlogError(f"{what} {path} is invalid: key {key!r} appears twice")
            seen[key] = value
        return seen

    try:
        data = json.loads(path.read_bytes(), object_pairs_hook=no_duplicate_keys)
    except (ValueError, UnicodeDecodeError) as exc:
        raise AlogError(f"{what} {path} is not valid JSON ({exc})") from None
    except OSError as exc:
        raise AlogError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if not isinstance(data, dict):
        raise AlogError(f"{what} {path} must be a JSON object, found {type(data).__name__}")
    if not data:
        raise AlogError(f"{what} {path} is empty")
    return data


def _is_index(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_cluster_id_keyed(vocab: Mapping) -> bool:
    return all(isinstance(k, str) and _CLUSTER_ID.fullmatch(k) for k in vocab) and all(
        _is_index(v) for v in vocab.values()
    )


def _is_engine_shaped(vocab: Mapping) -> bool:
    return all(isinstance(k, str) and _CLUSTER_ID.fullmatch(k) for k in vocab) and all(
        isinstance(v, str) for v in vocab.values()
    )


def _cluster_id_error(source: str) -> AlogError:
    return AlogError(
        f"{source} is keyed by Drain3 cluster ids, not template strings; rebuild it with "
        "`alog-detect build-deeplog` or convert it with `alog-detect fix-vocab`"
    )


def _check_indices(indices: list[int], source: str) -> None:
    seen: dict[int, int] = {}
    for index in indices:
        seen[index] = seen.get(index, 0) + 1
    duplicates = sorted(i for i, n in seen.items() if n > 1)
    if duplicates:
        raise AlogError(f"{source} gives index {duplicates[0]} to more than one template")
    if sorted(seen) != list(range(len(indices))):
        bad = sorted(set(seen) - set(range(len(indices))))
        raise AlogError(f"{source} indices must be exactly 0..{len(indices) - 1}; found {bad[0] if bad else 'a gap'}")


def _check_training(vocab: dict, source: str) -> dict[str, int]:
    if not vocab:
        raise AlogError(f"{source} is empty")
    if _is_cluster_id_keyed(vocab):
        raise _cluster_id_error(source)
    if _is_engine_shaped(vocab):
        raise AlogError(f"{source} is an engine vocab ({{\"0\": template}}); expected a training vocab "
                        "({template: index})")
    bad = next((k for k, v in vocab.items() if not isinstance(k, str) or not _is_index(v)), None)
    if bad is not None:
        raise AlogError(f"{source} must map template strings to integer indices; entry {bad!r} does not")
    _check_indices(list(vocab.values()), source)
    return vocab


def _check_engine(vocab: dict, source: str) -> dict[int, str]:
    if not vocab:
        raise AlogError(f"{source} is empty")
    if _is_cluster_id_keyed(vocab):
        raise _cluster_id_error(source)
    if all(isinstance(k, str) for k in vocab) and all(_is_index(v) for v in vocab.values()):
        raise AlogError(f"{source} is a training vocab ({{template: index}}); expected an engine vocab "
                        '({"0": template})')
    engine: dict[int, str] = {}
    for key, template in vocab.items():
        # Canonical decimal keys only: "01" and "1" would otherwise collide in the engine.
        if not (isinstance(key, str) and key.isdigit() and str(int(key)) == key) or not isinstance(template, str):
            raise AlogError(f"{source} must map index strings (\"0\", \"1\", ...) to templates; entry {key!r} does not")
        engine[int(key)] = template
    _check_indices(list(engine), source)
    first_index: dict[str, int] = {}
    for index in sorted(engine):
        template = engine[index]
        if template in first_index:
            raise AlogError(f"{source} lists template {template!r} twice (indices {first_index[template]} and {index})")
        first_index[template] = index
    return dict(sorted(engine.items()))


def load_training_vocab(path) -> dict[str, int]:
    """A ``{template: index}`` vocab file, refused with a one-line error when it is anything else."""
    return _check_training(_read_json_object(path, "vocab"), f"vocab {path}")


def load_engine_vocab(path) -> dict[int, str]:
    """An engine ``{"0": template}`` vocab file as ``{0: template}``, with the same refusals."""
    return _check_engine(_read_json_object(path, "engine vocab"), f"engine vocab {path}")


def check_vocab_size(vocab: Mapping, model_vocab_size: int, where: str, model_side: str | None = None) -> None:
    """Refuse a vocab whose size differs from the model's (its embedding rows, or ``model_side`` saying what)."""
    if len(vocab) != model_vocab_size:
        side = model_side or f"the model's embedding has {model_vocab_size} rows"
        raise AlogError(f"{where}: vocab has {len(vocab)} templates but {side}; use the vocab the model was trained "
                        "with")


def write_training_vocab(path, vocab: Mapping[str, int]) -> None:
    vocab = _check_training(dict(vocab), "training vocab")
    atomic.write_json(path, dict(sorted(vocab.items(), key=lambda kv: kv[1])))  # refuses a directory, names the path


def write_engine_vocab(path, vocab: Mapping) -> None:
    """Write ``{"0": template}``; accepts int or string keys."""
    engine = _check_engine({str(k) if _is_index(k) else k: v for k, v in vocab.items()}, "engine vocab")
    atomic.write_json(path, {str(i): t for i, t in engine.items()})


def fix_vocab(parsed_path, old_vocab_path, out_path) -> dict:
    """Rewrite a vocab keyed by Drain3 cluster ids into one keyed by template strings, same indices."""
    from converter.parsing import read_parsed  # parsing pulls in drain3; only fix-vocab needs it

    old = _read_json_object(old_vocab_path, "vocab")
    source = f"vocab {old_vocab_path}"
    if not _is_cluster_id_keyed(old):
        if _is_engine_shaped(old):
            raise AlogError(f"{source} is an engine vocab; fix-vocab converts vocabs keyed by Drain3 cluster ids")
        raise AlogError(f"{source} is not keyed by Drain3 cluster ids; nothing to fix")
    _check_indices(list(old.values()), source)

    parsed = read_parsed(parsed_path)
    templates = dict(zip(parsed["template_id"].astype(int), parsed["template"], strict=True))
    fixed: dict[str, int] = {}
    owner: dict[str, int] = {}
    for key, index in old.items():
        cluster_id = int(key)
        if cluster_id not in templates:
            raise AlogError(f"cluster id {cluster_id} of {source} is not in the parsed table {parsed_path}")
        template = templates[cluster_id]
        if template in owner:
            raise AlogError(f"cluster ids {owner[template]} and {cluster_id} share template {template!r}; "
                            "cannot keep both indices")
        owner[template] = cluster_id
        fixed[template] = index
    write_training_vocab(out_path, fixed)
    return {"out": str(out_path), "entries": len(fixed), "templates": len(fixed), "warning": FIX_VOCAB_WARNING}
