"""The architecture, held by a test: the import graph of converter/ and harness/ (module- and function-level
imports, read from the source with ast; imports under ``if TYPE_CHECKING:`` are left out) has no circle,
imports no entry point, and only ever imports downwards through the layers below. docs/architecture.md
shows the same order; a change to it is a change to both.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from harness.ground import names

ROOT = Path(__file__).resolve().parent.parent

# Lowest first. A module may import its own folder, or any folder of a lower layer; never one of its own
# layer's other folders, never a higher one. converter/ knows nothing of the harness.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("converter",),
    ("harness.ground",),
    ("harness.config",),
    ("harness.procs", "harness.envs"),
    ("harness.golden", "harness.parity", "harness.localize"),
    ("harness.evidence",),
    ("harness.runtimes",),
    ("harness.checks",),
    ("harness.report",),
    ("harness.run",),
)
# Entry points: what a user or a parent process starts. They may import anything; nothing imports them.
ENTRY_POINTS = ("harness.cli", "converter.cli")
MAX_TOP_LEVEL = 16
MAX_MODULE_LINES = 400


def modules() -> dict[str, Path]:
    found = {}
    for package in ("converter", "harness"):
        for path in sorted((ROOT / package).rglob("*.py")):
            dotted = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[dotted.removesuffix(".__init__")] = path
    return found


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            inside.update(id(n) for n in ast.walk(node))
    return inside


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules ``name`` imports anywhere in its body (type-only imports left out)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    type_only = _type_checking_nodes(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(parts + ([node.module] if node.module else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        found.update(t for t in targets if t in known and t != name)
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports_of(name, path, known) for name, path in known.items()}


def folder(module: str) -> str:
    parts = module.split(".")
    return parts[0] if parts[0] == "converter" else ".".join(parts[:2])


def layer_of(module: str) -> int:
    for index, folders in enumerate(LAYERS):
        if folder(module) in folders:
            return index
    raise AssertionError(f"{module} is in no layer of tests/test_architecture.py (add its folder to LAYERS)")


def is_entry_point(module: str) -> bool:
    return module in ENTRY_POINTS or module.endswith(".__main__")


def test_no_import_circle():
    edges = graph()
    state: dict[str, int] = {}
    circles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(edges[module]):
            if state.get(target) == 1:
                circles.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert not circles, "import circles: " + "; ".join(" -> ".join(c) for c in circles)


def test_nothing_imports_an_entry_point():
    wrong = [f"{m} -> {t}" for m, targets in graph().items() for t in targets if is_entry_point(t)]
    assert not wrong, f"entry points are imported: {wrong}"


def test_imports_go_down_the_layers_only():
    wrong = []
    for module, targets in graph().items():
        if is_entry_point(module):
            continue
        for target in targets:
            if folder(target) != folder(module) and layer_of(target) >= layer_of(module):
                wrong.append(f"{module} -> {target}")
    assert not wrong, f"imports against the layer order (tests/test_architecture.py LAYERS): {wrong}"


def test_every_harness_folder_has_a_layer():
    for module in graph():
        if not is_entry_point(module) and module not in ("harness", "converter"):
            layer_of(module)


def test_the_ground_floor_and_configuration_import_no_check():
    """Loading matrix.toml needs neither the check registry nor anything above configuration."""
    below = [m for m in graph() if folder(m) in ("harness.ground", "harness.config")]
    edges = graph()
    for module in below:
        assert all(folder(t) in ("converter", "harness.ground", "harness.config") for t in edges[module]), module


def test_harness_top_level_is_small_and_modules_are_short():
    entries = [p.name for p in (ROOT / "harness").iterdir() if p.name != "__pycache__"]
    assert len(entries) <= MAX_TOP_LEVEL, sorted(entries)
    long = {str(p.relative_to(ROOT)): n for p in modules().values()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def _enum(schema: dict, *path: str) -> list:
    node = schema
    for key in path:
        node = node[key]
    return node["enum"]


def test_the_report_schema_speaks_the_ground_floors_names():
    from converter.artifacts import OPT_LEVELS

    schema = json.loads((ROOT / "harness" / "report" / "matrix.schema.json").read_text(encoding="utf-8"))
    definitions = schema["$defs"]
    assert set(_enum(definitions, "status")) == set(names.STATUSES)
    assert set(names.CELL_STATUSES) <= set(_enum(definitions, "cell_state"))
    text = json.dumps(schema)
    for enum in (list(names.ENGINES), list(names.RUNTIME_STATUSES), list(OPT_LEVELS)):
        assert json.dumps({"enum": enum}) in text, f"the schema has no enum {enum}"


def test_the_check_registry_is_the_ground_floors_list():
    from harness.checks import CHECKS

    assert CHECKS == names.CHECK_NAMES


@pytest.mark.parametrize("template", ["index.html.j2", "summary.md.j2"])
def test_templates_take_engines_and_statuses_from_the_renderer(template):
    """No enum written out in a template: it loops over what the renderer hands it."""
    text = (ROOT / "harness" / "report" / "templates" / template).read_text(encoding="utf-8")
    assert '"python", "c"' not in text and "'python', 'c'" not in text
    assert '"pass", "fail", "xfail"' not in text


def test_every_package_folder_ships_in_the_wheel():
    """A folder of converter/ or harness/ that pyproject.toml does not list is left out of an installed
    alog-detect: its imports fail only there (a team's install, a cell venv), never in the checkout."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"])
    folders = {".".join(p.parent.relative_to(ROOT).parts) for package in ("converter", "harness")
               for p in (ROOT / package).rglob("__init__.py")}
    assert folders - listed == set()
