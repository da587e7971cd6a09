"""Wiring that cannot drift: the package's layers import only downward and without cycles, the core stays
pure, every DVC stage depends on exactly the project modules its process imports, and dvc.yaml's outs are
the file names the code defines. A hand-kept list once lost the engine, and `dvc repro` called models
trained by old code up to date."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from dvc.repo import Repo

from pipeline.config import PROJECT_ROOT, Dataset, load_pipeline_config
from pipeline.files.layout import PARAMS_FILE, Layout
from tests.helpers import TARGETS, TINY, set_options, sh

PACKAGE = PROJECT_ROOT / "pipeline"

# What each room may import, beyond itself and the standard library and third-party packages.
ALLOWED = {
    "pipeline.errors": set(),
    "pipeline.environment": set(),
    "pipeline.config": {"pipeline.errors"},
    "pipeline.failures": {"pipeline.errors"},
    "pipeline.core": {"pipeline.config", "pipeline.errors"},
    "pipeline.files": {"pipeline.config", "pipeline.errors", "pipeline.core"},
    "pipeline.tracking": {
        "pipeline.config",
        "pipeline.errors",
        "pipeline.environment",
        "pipeline.failures",
        "pipeline.core",
        "pipeline.files",
    },
    "pipeline.ops": {"pipeline.config", "pipeline.errors", "pipeline.files"},
    "pipeline.bench": {"pipeline.config", "pipeline.errors", "pipeline.core", "pipeline.files", "pipeline.ops"},
}
CORE_FORBIDDEN = {"mlflow", "hydra", "omegaconf", "dvc", "os", "pathlib", "shutil", "tempfile", "subprocess"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_path(name: str) -> Path | None:
    base = PROJECT_ROOT.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _type_checking_only(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def _import_nodes(tree: ast.AST, top_level_only: bool) -> Iterator[ast.Import | ast.ImportFrom]:
    """Imports that run: inside `if TYPE_CHECKING:` none do; inside functions only when called."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _type_checking_only(node):
            yield from (n for orelse in node.orelse for n in _import_nodes(ast.Module([orelse], []), top_level_only))
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif not (top_level_only and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))):
            yield from _import_nodes(node, top_level_only)


def imported_modules(path: Path, top_level_only: bool = True) -> set[str]:
    """Every module a file imports (`from pipeline.core import engines` names pipeline.core.engines)."""
    names: set[str] = set()
    for node in _import_nodes(ast.parse(path.read_text()), top_level_only):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif node.module:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names if module_path(f"{node.module}.{alias.name}")}
    return names


def project_imports(name: str, top_level_only: bool = True) -> set[str]:
    """The project modules a module imports, each with the packages Python initialises on the way."""
    found = set()
    for imported in imported_modules(module_path(name), top_level_only):
        if imported.split(".")[0] == "pipeline" and module_path(imported):
            parts = imported.split(".")
            found |= {".".join(parts[: i + 1]) for i in range(len(parts))}
    return found - {name}


def import_closure(name: str, top_level_only: bool = False) -> set[str]:
    """Every project module importing `name` may run, at once or later (imports inside functions too,
    unless `top_level_only`)."""
    seen, todo = set(), [name]
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            parts = current.split(".")
            todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # a module's packages run first
            todo += project_imports(current, top_level_only)
    return seen


ALL_MODULES = sorted(module_name(path) for path in PACKAGE.rglob("*.py"))


def room(name: str) -> str | None:
    return next((key for key in sorted(ALLOWED, key=len, reverse=True) if name == key or name.startswith(f"{key}.")), None)


@pytest.mark.parametrize("name", [m for m in ALL_MODULES if room(m)])
def test_each_room_imports_only_the_rooms_below_it(name):
    own = room(name)
    imported = {room(m) or m for m in project_imports(name, top_level_only=False)} - {own, "pipeline"}

    assert imported <= ALLOWED[own], f"{name} imports {sorted(imported - ALLOWED[own])}"


@pytest.mark.parametrize("name", [m for m in ALL_MODULES if m.startswith("pipeline.core")])
def test_the_core_touches_no_tracking_files_doors_or_environment(name):
    third_party = {m.split(".")[0] for m in imported_modules(module_path(name), top_level_only=False)}

    tree = ast.parse(module_path(name).read_text())
    names = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    names |= {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}

    assert not third_party & CORE_FORBIDDEN
    assert not names & {"environ", "getenv", "putenv", "open"}


def test_the_package_has_no_import_cycles():
    graph = {name: project_imports(name, top_level_only=False) - {"pipeline"} for name in ALL_MODULES}
    visiting, done = [], set()

    def visit(name: str) -> None:
        assert name not in visiting, f"import cycle: {' -> '.join([*visiting[visiting.index(name) :], name])}"
        if name in done:
            return
        visiting.append(name)
        for imported in graph.get(name, ()):
            if imported.startswith(f"{name}."):  # a package importing its own modules is no cycle
                continue
            visit(imported)
        visiting.pop()
        done.add(name)

    for name in ALL_MODULES:
        visit(name)


def dvc_stages() -> dict[str, object]:
    with Repo(str(PROJECT_ROOT)) as repo:
        return {stage.addressing: stage for stage in repo.index.stages}


def stage_module(stage) -> str:
    return stage.cmd.split()[2]  # `python -m <module> [target]`


def module_files(names: set[str]) -> set[str]:
    return {str(module_path(name).relative_to(PROJECT_ROOT)) for name in names}


def test_each_stage_depends_on_exactly_the_project_modules_its_process_imports():
    for address, stage in dvc_stages().items():
        declared = {str(dep.def_path) for dep in stage.deps if str(dep.def_path).startswith("pipeline/")}
        imported = module_files(import_closure(stage_module(stage)))

        assert declared == imported, f"{address}: missing {sorted(imported - declared)}, extra {sorted(declared - imported)}"


@pytest.mark.slow
def test_the_static_import_closure_is_what_each_stage_process_really_imports():
    """The check above reads imports from the source; here each stage's module is imported in a fresh
    process, which also sees imports the source does not spell out: it imports exactly the modules the
    source imports at its top level, all of them among the stage's deps."""
    probe = (
        "import importlib, sys; importlib.import_module(sys.argv[1]); "
        "print('\\n'.join(sorted(m for m in sys.modules if m == 'pipeline' or m.startswith('pipeline.'))))"
    )
    for module in sorted({stage_module(stage) for stage in dvc_stages().values()}):
        done = subprocess.run([sys.executable, "-c", probe, module], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)

        assert set(done.stdout.split()) == import_closure(module, top_level_only=True), module


def test_dvc_yaml_outs_are_the_files_the_code_writes():
    layout = Layout(load_pipeline_config(PARAMS_FILE).paths)
    targets = load_pipeline_config(PARAMS_FILE).targets
    expected = {"generate": {*(str(layout.data_file(d)) for d in Dataset), str(layout.coefficients_file())}}
    for name in targets:
        expected[f"train@{name}"] = {str(layout.model_dir(name)), str(layout.loss_file(name))}
        expected[f"evaluate@{name}"] = {str(layout.metrics_file(name)), str(layout.evaluation_file(name))}
    expected["report"] = {str(layout.summary_markdown_file()), str(layout.summary_page_file())}

    stages = dvc_stages()
    assert {address: {str(out.def_path) for out in stage.outs} for address, stage in stages.items()} == expected
    for name in targets:
        assert {str(out.def_path) for out in stages[f"train@{name}"].outs if out.plot} == {str(layout.loss_file(name))}
        assert {str(out.def_path) for out in stages[f"evaluate@{name}"].outs if out.metric} == {str(layout.metrics_file(name))}


def changed_stages(copy: Path) -> set[str]:
    return set(json.loads(sh("dvc", "status", "--json", cwd=copy).stdout))


@pytest.mark.slow
def test_editing_the_engine_or_the_relations_makes_dvc_call_the_stages_that_run_them_changed(project_copy):
    """The engine runs in the train stages only. The relations score the networks in the evaluate stages
    and the report; a train stage imports them too when it records a failed training's run."""
    sh("dvc", "exp", "run", *set_options(TINY), cwd=project_copy)
    assert changed_stages(project_copy) == set()
    trains, evaluates = ({f"{stage}@{name}" for name in TARGETS} for stage in ("train", "evaluate"))

    for module, stages in [("pipeline/core/engines.py", trains), ("pipeline/core/relations.py", trains | evaluates | {"report"})]:
        source = project_copy / module
        original = source.read_text()
        source.write_text(original + "\n# an edit\n")
        assert changed_stages(project_copy) == stages, module
        source.write_text(original)
