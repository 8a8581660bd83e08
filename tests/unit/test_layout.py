"""The house rules on imports, read from the source (ast), so a new module cannot break them.

* The product never imports the rig (looper/rig: JACK server, harness, bench...): a
  stage machine needs none of it. The one exception is the CLI's `demo` command, which
  imports it lazily, inside a function, so `looper` runs where JACK-Client is missing.
* The core is pure: numpy, the standard library and itself, nothing else (no I/O
  libraries, no config, no live side), so it runs the same offline, live and in tests;
  it may import `looper.errors`, which holds only exception classes.
* No module grows past about 400 lines: a module that long holds two ideas, and a
  newcomer should be able to read one room at a time.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "looper"
MODULES = sorted(PACKAGE.rglob("*.py"))
PURE_ALLOWED = {"numpy", "__future__", *sys.stdlib_module_names}
MAX_LINES = 420  # "about 400": room for a docstring line, not for a second idea


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> Iterator[tuple[str, int, bool]]:
    """(imported module, line, inside a function?) for every import of the module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = (
        module_name(path) if path.name == "__init__.py" else module_name(path).rsplit(".", 1)[0]
    )

    def visit(node: ast.AST, in_function: bool) -> Iterator[tuple[str, int, bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield alias.name, child.lineno, in_function
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - child.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                yield base, child.lineno, in_function
            inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            yield from visit(child, inner)

    yield from visit(tree, False)


def test_the_rules_see_every_module() -> None:
    names = {module_name(path) for path in MODULES}
    assert {"looper.cli", "looper.core.engine", "looper.rig.harness"} <= names
    assert ("looper.rig.demo", True) in {
        (name, lazy) for name, _, lazy in imports(PACKAGE / "cli.py")
    }, "the check finds the CLI's lazy demo import"


@pytest.mark.parametrize(
    "path", [p for p in MODULES if "rig" not in p.relative_to(PACKAGE).parts[:1]], ids=module_name
)
def test_the_product_never_imports_the_rig(path: Path) -> None:
    for name, line, in_function in imports(path):
        if name == "looper.rig" or name.startswith("looper.rig."):
            where = f"{path.relative_to(PACKAGE.parent)}:{line} imports {name}"
            assert path.name == "cli.py" and path.parent == PACKAGE, where
            assert in_function, f"{where} at module level: the CLI imports the rig lazily"


@pytest.mark.parametrize("path", sorted((PACKAGE / "core").rglob("*.py")), ids=module_name)
def test_the_core_imports_only_numpy_the_standard_library_and_itself(path: Path) -> None:
    for name, line, _ in imports(path):
        top = name.split(".")[0]
        ours = name in ("looper.core", "looper.errors") or name.startswith("looper.core.")
        allowed = top in PURE_ALLOWED or ours
        assert allowed, f"{path.relative_to(PACKAGE.parent)}:{line} imports {name}"


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_no_module_is_over_about_400_lines(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(PACKAGE.parent)}: {lines} lines; split it"
