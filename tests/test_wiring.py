"""Wiring that cannot drift: the package's layers import only downward and without cycles, the core stays
pure, every project module a DVC stage's process may import lies under one of the stage's deps (folders:
`dvc exp show` gets one column for the code, not one per module), and dvc.yaml's outs are the file names
the code defines. A hand-kept list of modules once lost the engine, and `dvc repro` called models trained by
old code up to date."""

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
from tests.helpers import TARGETS, sh

PACKAGE = PROJECT_ROOT / "pipeline"
# The project's own top-level packages: the library, and the resolver DVC loads before it composes params.yaml.
PROJECT_PACKAGES = ("pipeline", "hydra_plugins")

# What each room may import, beyond itself and the standard library and third-party packages.
ALLOWED = {
    "pipeline.errors": set(),
    "pipeline.environment": set(),
    "pipeline.config": {"pipeline.errors"},
    "pipeline.redaction": set(),
    "pipeline.failures": {"pipeline.errors", "pipeline.redaction"},
    "pipeline.core": {"pipeline.config", "pipeline.errors"},
    "pipeline.files": {"pipeline.config", "pipeline.errors", "pipeline.core"},
    "pipeline.tracking": {
        "pipeline.config",
        "pipeline.errors",
        "pipeline.redaction",
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
    """The project's file for a module; None for a module outside the project, or a namespace package
    (hydra_plugins, whose folder has no __init__.py: Hydra's plugins from site-packages share it)."""
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
    found: set[str] = set()
    path = module_path(name)
    if path is None:  # a namespace package runs no code of its own
        return found
    for imported in imported_modules(path, top_level_only):
        if imported.split(".")[0] in PROJECT_PACKAGES and module_path(imported):
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
    """The files of the modules that have one (not of namespace packages), relative to the project."""
    return {str(path.relative_to(PROJECT_ROOT)) for path in map(module_path, names) if path is not None}


def written_by_a_stage(dep: str, stages) -> bool:
    """A dep that a stage writes, or a folder of such files: data, not code or config."""
    return any(Path(str(out.def_path)).is_relative_to(dep) for stage in stages for out in stage.outs)


def source_deps(stage, stages) -> set[str]:
    """A stage's deps that no stage writes: code and config (params.yaml is its params, not counted here)."""
    paths = {str(dep.def_path) for dep in stage.deps if str(dep.def_path) != PARAMS_FILE.name}
    return {path for path in paths if not written_by_a_stage(path, stages)}


def test_every_module_a_stage_process_may_import_lies_under_one_of_its_deps():
    """Imports inside functions count: the stage check imports the conf digest's resolver (hydra_plugins/)."""
    for address, stage in dvc_stages().items():
        deps = [Path(str(dep.def_path)) for dep in stage.deps]
        imported = module_files(import_closure(stage_module(stage)))

        outside = sorted(path for path in imported if not any(Path(path).is_relative_to(dep) for dep in deps))
        assert outside == [], f"{address}: no dep holds {outside}"


def test_each_code_dep_of_a_stage_holds_a_module_its_process_imports():
    """No folder of code the stage never runs: a change there would rerun it for nothing."""
    stages = list(dvc_stages().values())
    for stage in stages:
        imported = module_files(import_closure(stage_module(stage)))
        code = source_deps(stage, stages) - {"conf"}

        idle = sorted(dep for dep in code if not any(Path(path).is_relative_to(dep) for path in imported))
        assert idle == [], f"{stage.addressing}: no module its process imports is under {idle}"


def test_each_stage_depends_on_all_of_conf_so_an_edit_there_reaches_its_staleness_check():
    """An edit to conf/ reruns every stage, whose first act is to compare params.yaml's conf_digest with
    conf/ (pipeline/stages/compose.py): plain `dvc repro` then stops with one line until params.yaml is
    composed again."""
    stages = list(dvc_stages().values())

    assert {stage.addressing: source_deps(stage, stages) for stage in stages} == {
        stage.addressing: {"conf", "hydra_plugins", "pipeline"} for stage in stages
    }


@pytest.mark.slow
def test_the_static_import_closure_is_what_each_stage_process_really_imports():
    """The check above reads imports from the source; here each stage's module is imported in a fresh
    process, which also sees imports the source does not spell out: it imports exactly the modules the
    source imports at its top level, all of them among the stage's deps."""
    probe = (
        "import importlib, sys; importlib.import_module(sys.argv[1]); "
        "print('\\n'.join(sorted(m for m in sys.modules if m.split('.')[0] in sys.argv[2:])))"
    )
    for module in sorted({stage_module(stage) for stage in dvc_stages().values()}):
        done = subprocess.run(
            [sys.executable, "-c", probe, module, *PROJECT_PACKAGES], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
        )

        imported = {name for name in done.stdout.split() if module_path(name) or name in PROJECT_PACKAGES}
        assert imported == import_closure(module, top_level_only=True), module


def test_dvc_yaml_outs_are_the_files_the_code_writes():
    layout = Layout(load_pipeline_config(PARAMS_FILE).paths)
    targets = load_pipeline_config(PARAMS_FILE).targets
    expected = {"generate": {*(str(layout.data_file(d)) for d in Dataset), str(layout.coefficients_file())}}
    for name in targets:
        expected[f"train@{name}"] = {
            str(layout.model_dir(name)),
            str(layout.loss_file(name)),
            str(layout.metrics_file(name)),
            str(layout.evaluation_file(name)),
        }
    expected["report"] = {str(layout.summary_markdown_file()), str(layout.summary_page_file())}

    stages = dvc_stages()
    assert {address: {str(out.def_path) for out in stage.outs} for address, stage in stages.items()} == expected
    for name in targets:
        assert {str(out.def_path) for out in stages[f"train@{name}"].outs if out.metric} == {str(layout.metrics_file(name))}
    # The loss curves are drawn by dvc.yaml's one top-level plot, all targets together (tests/doors/test_dvc_plots.py).
    assert [str(out.def_path) for stage in stages.values() for out in stage.outs if out.plot] == []


def changed_stages(copy: Path) -> set[str]:
    return set(json.loads(sh("dvc", "status", "--json", cwd=copy).stdout))


@pytest.mark.slow
def test_editing_the_engine_or_conf_makes_dvc_call_every_stage_changed_and_an_edit_elsewhere_none(
    tiny_experiment, tiny_experiment_copy
):
    """Each stage depends on the whole package and the whole of conf/: an edit to the engine, which only the
    train stages run, changes them all (the price of one `dvc exp show` column for the code)."""
    assert changed_stages(tiny_experiment) == set()  # after `dvc exp run -S <TINY>`
    assert changed_stages(tiny_experiment_copy) == set()  # and in a copy of it, which this test edits
    every_stage = {"generate", *(f"train@{name}" for name in TARGETS), "report"}

    edits = [("pipeline/core/engines.py", every_stage), ("conf/train/default.yaml", every_stage), ("docs/dvc.md", set())]
    for path, stages in edits:
        edited = tiny_experiment_copy / path
        original = edited.read_text()
        edited.write_text(original + "\n# an edit\n")
        assert changed_stages(tiny_experiment_copy) == stages, path
        edited.write_text(original)
