"""Validate a report document against harness/report/matrix.schema.json (JSON Schema 2020-12)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from converter.errors import AlogError

SCHEMA_PATH = Path(__file__).resolve().parent / "matrix.schema.json"


@lru_cache(maxsize=1)
def load_schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def validate_report(doc: Any, source: str = "report") -> None:
    """Raise AlogError naming the first violation (its JSON path and message)."""
    import jsonschema  # the harness extra; imported here so `gha-matrix` runs with the stdlib alone

    validator = jsonschema.Draft202012Validator(load_schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(doc))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise AlogError(f"{source} does not match the report schema at {where}: {error.message}")
