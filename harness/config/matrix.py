"""Load matrix.toml: the cells, their pins and expectations, tolerances and the gate policy.

The whole file is checked against one schema (``harness.config.schema``) before anything else happens:
an unknown table or key, a wrong type or an impossible value is one line naming the file, the table,
the key and the nearest valid key. Standard library only (``alog-matrix gha-matrix`` runs before
anything is installed).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from converter.artifacts import EXPORT_STRATEGIES, OPT_LEVELS
from converter.errors import AlogError
from converter.logformats import FORMATS
from converter.tolerance import Tolerance
from harness.config import schema as s
from harness.config.models import REFERENCE_ENTRIES, REFERENCE_MODELS, ModelEntry, hub_entries, model_table
from harness.config.policy import Policy
from harness.ground.names import CHECK_NAMES, ENGINES
from harness.ground.paths import ROOT

DEFAULT_MATRIX = ROOT / "matrix.toml"  # the checkout's own matrix (its tests and benchmarks)
MATRIX_NAMES = ("gate.toml", "matrix.toml")  # what `alog-matrix` looks for in the current folder
DEFAULTS = {"python": "3.11", "models": REFERENCE_MODELS, "strategies": ("legacy", "dynamo", "auto"), "timeout_s": 900}
_PIN = s.text(pattern=s.re.compile(r"[A-Za-z0-9<>=!~.,*+ -]+"), hint=": a version (1.26.4) or a specifier (<2.3)")


@dataclass(frozen=True)
class Expectation:
    model: str  # a model name or "*"
    check: str
    outcome: str  # "fail" (a known, accepted failure) or "pass"
    reason: str

    def applies(self, model: str, check: str) -> bool:
        return self.model in ("*", model) and self.check == check


@dataclass(frozen=True)
class Cell:
    id: str
    torch: str
    pins: dict[str, str] = field(default_factory=dict)
    timeout_s: int = 900
    expectations: tuple[Expectation, ...] = ()
    find_links: bool = False  # take torch from the local wheel folder pip is configured with
    python: str = "3.11"

    def requirements(self) -> list[str]:
        """torch and its companion pins as requirement strings ("1.26.4" -> "numpy==1.26.4")."""
        reqs = [_requirement("torch", self.torch)]
        reqs += [_requirement(name, spec) for name, spec in sorted(self.pins.items())]
        return reqs

    def expected(self, model: str, check: str) -> Expectation | None:
        return next((e for e in self.expectations if e.applies(model, check)), None)

    # What its venv is (harness.envs.venvs): the project's dependencies with the test extra, torch verified.
    project_extras: tuple[str, ...] | None = ("test",)
    verify_imports: tuple[str, ...] = ("torch", "numpy", "onnx", "onnxruntime", "onnxscript", "pandas", "pyarrow",
                                       "drain3")

    @property
    def pinned(self) -> tuple[str, str]:
        return "torch", self.torch


@dataclass(frozen=True)
class RuntimeExpectation:
    """A known outcome of one runtime on some artifacts: each field matches a value or "*"."""

    outcome: str  # incompatible | fail | error
    reason: str
    cell: str = "*"
    strategy: str = "*"
    model: str = "*"
    level: str = "*"
    engine: str = "*"

    def applies(self, cell: str, strategy: str, model: str, level: str, engine: str) -> bool:
        wanted = (self.cell, self.strategy, self.model, self.level, self.engine)
        return all(w in ("*", v) for w, v in zip(wanted, (cell, strategy, model, level, engine), strict=True))


@dataclass(frozen=True)
class Runtime:
    """An ONNX Runtime every kept artifact is loaded in (Python and the C engine), at each level."""

    id: str
    onnxruntime: str
    pins: dict[str, str] = field(default_factory=dict)
    levels: tuple[str, ...] = ("disabled", "basic", "extended", "all")
    expectations: tuple[RuntimeExpectation, ...] = ()
    python: str = "3.11"
    timeout_s: int = 900
    find_links: bool = False
    project_extras: tuple[str, ...] | None = None  # onnxruntime and numpy only: no torch
    verify_imports: tuple[str, ...] = ("onnxruntime", "numpy")

    def requirements(self) -> list[str]:
        pins = [_requirement(name, spec) for name, spec in sorted(self.pins.items())]
        return [_requirement("onnxruntime", self.onnxruntime), *pins]

    @property
    def pinned(self) -> tuple[str, str]:
        return "onnxruntime", self.onnxruntime

    def expected(self, cell: str, strategy: str, model: str, level: str, engine: str) -> RuntimeExpectation | None:
        return next((e for e in self.expectations if e.applies(cell, strategy, model, level, engine)), None)


@dataclass(frozen=True)
class Matrix:
    path: Path
    cells: tuple[Cell, ...]
    models: tuple[str, ...]  # the models the cells judge, in order (see ``entry``)
    strategies: tuple[str, ...]
    tolerance: Tolerance
    policy: Policy
    data: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] = field(default_factory=dict)  # [model]: the team's own files, or empty for a reference
    disk: dict[str, Any] = field(default_factory=dict)
    warnings_allowed: tuple[str, ...] = ()
    checks: tuple[str, ...] = CHECK_NAMES  # [defaults].checks: the checks the cells run (others are recorded as skip)
    runtimes: tuple[Runtime, ...] = ()
    deploy: tuple[str, ...] = ()  # [gate] deploy: the runtimes the release must work on
    entries: dict[str, ModelEntry] = field(default_factory=dict)  # [model.NAME]: a team's hub entries

    def entry(self, name: str) -> ModelEntry:
        """A model of the matrix: a hub entry of [model.NAME], else a reference model."""
        found = self.entries.get(name) or REFERENCE_ENTRIES.get(name)
        if found is None:
            raise AlogError(f"no model {name!r} in {self.path} (models: {', '.join(self.models)})")
        return found

    def judges(self, cell_id: str, model: str) -> bool:
        """Whether a record of this cell and model is evidence the matrix asks for (the others are ignored)."""
        return model in self.models and any(c.id == cell_id for c in self.cells)

    def torch_side(self, name: str) -> tuple[ModelEntry | None, str]:
        """(the hub entry whose hubconf.py builds the model's PyTorch side, or None for a reference model; the
        model kind its checkpoint is loaded as: deeplog or mscred)."""
        hub = self.entries.get(name)
        return hub, hub.model_type if hub else name

    def select(self, ids: list[str] | None) -> tuple[Cell, ...]:
        """The cells named in ``ids`` (in matrix order), or every cell when ``ids`` is empty."""
        if not ids:
            return self.cells
        wanted = set(ids)
        for cell_id in wanted:
            self.cell(cell_id)  # one clear error for an unknown id
        return tuple(c for c in self.cells if c.id in wanted)

    def relative(self, value: str | None) -> Path | None:
        """A path of the matrix file (relative ones are taken from its folder), or None."""
        return _relative(self.path, value)

    def data_log(self) -> Path | None:
        """The real log the cells train on, or None for the synthetic one."""
        return self.relative(self.data.get("log"))

    def runtime(self, runtime_id: str) -> Runtime:
        for runtime in self.runtimes:
            if runtime.id == runtime_id:
                return runtime
        known = ", ".join(r.id for r in self.runtimes)
        raise AlogError(f"no runtime {runtime_id!r} in {self.path} (runtimes: {known})")

    def cell(self, cell_id: str) -> Cell:
        for cell in self.cells:
            if cell.id == cell_id:
                return cell
        raise AlogError(f"no cell {cell_id!r} in {self.path} (cells: {', '.join(c.id for c in self.cells)})")


_MODEL_NAME = s.text(pattern=s.SAFE_ID, hint=": a model name (letters, digits, '.', '_' and '-')")
_MODEL_OR_ANY = s.text(pattern=s.re.compile(r"\*|[A-Za-z0-9][A-Za-z0-9._-]*"), hint=": a model name or *")
_EXPECT = {"model": _MODEL_OR_ANY, "check": s.text(choices=CHECK_NAMES),
           "outcome": s.text(choices=("fail", "pass")), "reason": s.text()}
SCHEMA = {
    "defaults": s.table({
        "python": s.text(pattern=s.re.compile(r"3\.\d+"), hint=": a Python version such as 3.11"),
        "models": s.list_of(_MODEL_NAME, nonempty=True, unique=True),
        "strategies": s.list_of(s.text(choices=EXPORT_STRATEGIES), nonempty=True, unique=True),
        "timeout_s": s.integer(minimum=1),
        "checks": s.list_of(s.text(choices=CHECK_NAMES), nonempty=True, unique=True),
    }),
    "data": s.table({"log": s.text(), "format": s.text(choices=("auto", *FORMATS)),
                     "synthetic_blocks": s.integer(minimum=1), "seed": s.integer(minimum=0)}),
    "tolerance": s.table({"atol": s.number(minimum=0), "rtol": s.number(minimum=0),
                          "max_outlier_fraction": s.number(minimum=0, maximum=1)}),
    "model": model_table,
    "warnings": s.table({"allow": s.list_of(s.regex())}),
    "disk": s.table({"cuda_cell_gb": s.number(minimum=0), "cpu_cell_gb": s.number(minimum=0),
                     "margin_gb": s.number(minimum=0)}),
    "gate": s.table({"xpass": s.text(choices=("warn", "fail")), "fail_on": s.list_of(s.text(), nonempty=True),
                     "deploy": s.list_of(s.text(), unique=True)}),
    "cell": s.tables({
        "id": s.text(pattern=s.SAFE_ID, hint=": letters, digits, '.', '_' and '-' (it names files)"),
        "torch": s.text(pattern=s.re.compile(r"\d+(\.\d+)+"), hint=": an exact version such as 2.8.0"),
        "pins": s.mapping_of(_PIN),
        "timeout_s": s.integer(minimum=1),
        "find_links": s.boolean(),
        "python": s.text(pattern=s.re.compile(r"3\.\d+"), hint=": a Python version such as 3.11"),
        "expect": s.tables(_EXPECT, required=("check",)),
    }, required=("id", "torch"), label=lambda t, i: str(t.get("id") or i + 1)),
    "runtime": s.tables({
        "id": s.text(pattern=s.SAFE_ID, hint=": letters, digits, '.', '_' and '-' (it names files)"),
        "onnxruntime": s.text(pattern=s.re.compile(r"\d+(\.\d+)+"), hint=": an exact version such as 1.21.1"),
        "pins": s.mapping_of(_PIN),
        "levels": s.list_of(s.text(choices=OPT_LEVELS), nonempty=True, unique=True),
        "timeout_s": s.integer(minimum=1),
        "python": s.text(pattern=s.re.compile(r"3\.\d+"), hint=": a Python version such as 3.11"),
        "expect": s.tables({"outcome": s.text(choices=("incompatible", "fail", "error")), "reason": s.text(),
                            "cell": s.text(), "strategy": s.text(choices=("*", *EXPORT_STRATEGIES)),
                            "model": _MODEL_OR_ANY, "level": s.text(choices=("*", *OPT_LEVELS)),
                            "engine": s.text(choices=("*", *ENGINES))}, required=("outcome", "reason")),
    }, required=("id", "onnxruntime"), label=lambda t, i: str(t.get("id") or i + 1)),
}


def matrix_here(folder: Path | None = None) -> Path | None:
    """gate.toml, else matrix.toml, of ``folder`` (the current one by default), or None when it has neither."""
    folder = Path.cwd() if folder is None else folder
    return next((folder / name for name in MATRIX_NAMES if (folder / name).is_file()), None)


def find_matrix(folder: Path | None = None) -> Path:
    """The matrix file a command runs when none is named (``matrix_here``), or one line saying how to make one."""
    found = matrix_here(folder)
    if found is not None:
        return found
    folder = Path.cwd() if folder is None else folder
    raise AlogError(f"no {' or '.join(MATRIX_NAMES)} in {folder}: name one with --matrix, or write a starter "
                    "with `alog-matrix init`")


def load_matrix(path: str | Path | None = DEFAULT_MATRIX) -> Matrix:
    """matrix.toml (``None``: the one of the current folder, see ``find_matrix``), validated whole."""
    path = find_matrix() if path is None else Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AlogError(f"matrix file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AlogError(f"cannot read matrix file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise AlogError(f"matrix file {path} is not valid TOML: {exc}") from None
    data = s.top_level(SCHEMA, raw, str(path))
    hubs = hub_entries(path, data.get("model", {}), lambda v: _relative(path, v))
    defaults = {**DEFAULTS, "models": (*REFERENCE_MODELS, *hubs), **data.get("defaults", {})}
    known = (*REFERENCE_MODELS, *hubs)
    unknown_models = [m for m in defaults["models"] if m not in known]
    if unknown_models:
        raise AlogError(f"{path}: [defaults] models names {unknown_models[0]!r}, which is neither a reference model "
                        f"nor a [model.{unknown_models[0]}] table (models: {', '.join(known)})")
    if not data.get("cell"):
        raise AlogError(f"{path}: no [[cell]] table: a matrix without cells gives no evidence")
    cells = tuple(_cell(path, table, defaults) for table in data["cell"])
    ids = [c.id for c in cells]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise AlogError(f"{path}: cell ids repeat: {', '.join(repeated)}")
    runtimes = tuple(_runtime(t, defaults) for t in data.get("runtime", ()))
    for runtime in runtimes:
        for expectation in runtime.expectations:
            if expectation.model not in ("*", *defaults["models"]):
                raise AlogError(f"{path}: [[runtime]] {runtime.id} expects a model not in [defaults].models: "
                                f"{expectation.model!r} (models: {', '.join(defaults['models'])})")
    runtime_ids = [r.id for r in runtimes]
    if len(set(runtime_ids)) != len(runtime_ids):
        raise AlogError(f"{path}: runtime ids repeat: {', '.join(sorted(runtime_ids))}")
    deploy = tuple(data.get("gate", {}).get("deploy", ()))
    unknown = [d for d in deploy if d not in runtime_ids]
    if unknown:
        raise AlogError(f"{path}: [gate] deploy names {unknown[0]!r}, which no [[runtime]] table has "
                        f"(runtimes: {', '.join(runtime_ids) or 'none'})")
    gate = {k: v for k, v in data.get("gate", {}).items() if k != "deploy"}
    return Matrix(
        path=path,
        cells=cells,
        models=tuple(defaults["models"]),
        strategies=tuple(defaults["strategies"]),
        tolerance=Tolerance.from_mapping(data.get("tolerance")),
        policy=Policy.from_mapping(gate, f"{path}: [gate]"),
        data=dict(data.get("data", {})),
        model={k: v for k, v in data.get("model", {}).items() if not isinstance(v, dict)},
        disk=dict(data.get("disk", {})),
        warnings_allowed=tuple(data.get("warnings", {}).get("allow", ())),
        checks=tuple(defaults.get("checks", CHECK_NAMES)),
        runtimes=runtimes,
        deploy=deploy,
        entries=hubs,
    )


def _relative(path: Path, value: str | None) -> Path | None:
    """A path of the matrix file, taken from its folder when relative (as ``Matrix.relative``)."""
    if not value:
        return None
    found = Path(value)
    return found if found.is_absolute() else (path.parent / found).resolve()


def _requirement(name: str, spec: str) -> str:
    spec = spec.strip()
    return f"{name}{spec}" if spec[:1] in "<>=!~" else f"{name}=={spec}"


def _runtime(table: dict[str, Any], defaults: dict[str, Any]) -> Runtime:
    expectations = tuple(RuntimeExpectation(**e) for e in table.get("expect", ()))
    return Runtime(id=table["id"], onnxruntime=table["onnxruntime"], pins=dict(table.get("pins", {})),
                   levels=tuple(table.get("levels", Runtime.levels)), expectations=expectations,
                   python=table.get("python", defaults["python"]),
                   timeout_s=table.get("timeout_s", defaults["timeout_s"]))


def _cell(path: Path, table: dict[str, Any], defaults: dict[str, Any]) -> Cell:
    where = f"{path}: [[cell]] {table['id']}"
    expectations = tuple(_expectation(where, e, defaults["models"]) for e in table.get("expect", ()))
    return Cell(id=table["id"], torch=table["torch"], pins=dict(table.get("pins", {})),
                timeout_s=table.get("timeout_s", defaults["timeout_s"]), expectations=expectations,
                find_links=table.get("find_links", False), python=table.get("python", defaults["python"]))


def _expectation(where: str, table: dict[str, Any], models: tuple[str, ...]) -> Expectation:
    """One [[cell.expect]] table, checked so that a typo cannot silently expect nothing."""
    exp = Expectation(table.get("model", "*"), table["check"], table.get("outcome", "fail"), table.get("reason", ""))
    if exp.model != "*" and exp.model not in models:
        raise AlogError(f"{where} expects a model not in [defaults].models: {exp.model!r} "
                        f"(models: {', '.join(models)})")
    if exp.outcome == "fail" and not exp.reason:
        raise AlogError(f"{where} expects {exp.check!r} to fail without a reason")
    return exp
