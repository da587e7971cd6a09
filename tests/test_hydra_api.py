"""The package uses Hydra's public API only: `hydra._internal` may change in any release."""

from __future__ import annotations

import ast

from pipeline.config import PROJECT_ROOT


def imported_names(source: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def test_no_module_of_the_package_imports_hydras_internals():
    modules = {str(path.relative_to(PROJECT_ROOT)): path.read_text() for path in (PROJECT_ROOT / "pipeline").rglob("*.py")}

    found = {module: [name for name in imported_names(text) if name.startswith("hydra._")] for module, text in modules.items()}

    assert {name: internals for name, internals in found.items() if internals} == {}
