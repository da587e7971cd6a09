"""The console scripts `pip install` makes (pyproject's [project.scripts]): each named for the project, each
doing what `python -m <module>` does."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import run
from pipeline.bench import __main__ as bench
from pipeline.ops import tracking_server
from pipeline.stages import compose
from tests.helpers import run_door

SCRIPTS = {
    "toy-ann": "pipeline.run:cli",
    "toy-ann-compose": "pipeline.stages.compose:main",
    "toy-ann-server": "pipeline.ops.tracking_server:main",
    "toy-ann-bench": "pipeline.bench.__main__:main",
}
BIN = Path(sys.executable).parent


def script(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / name), *args], cwd=cwd, capture_output=True, text=True, timeout=600)


def test_the_installed_project_has_a_console_script_for_each_entry_point():
    installed = {entry.name: entry.value for entry in importlib.metadata.distribution("toy-ann-lab").entry_points}

    assert installed == SCRIPTS  # else: .venv/bin/pip install -e '.[test,ray,server]' after editing pyproject.toml
    assert all((BIN / name).is_file() for name in SCRIPTS)


def test_each_console_script_calls_what_python_m_runs():
    calls = {
        "toy-ann": (run, run.cli),
        "toy-ann-compose": (compose, compose.main),
        "toy-ann-server": (tracking_server, tracking_server.main),
        "toy-ann-bench": (bench, bench.main),
    }
    for entry in importlib.metadata.distribution("toy-ann-lab").entry_points:
        module, function = calls[entry.name]

        assert entry.load() is function
        main_block = Path(module.__file__).read_text().split('if __name__ == "__main__":')[1]
        assert f"{function.__name__}()" in main_block


@pytest.mark.slow
@pytest.mark.parametrize(
    "args",
    [
        ("--cfg", "job", "target=product", "train.epochs=5"),
        ("train.lrr=0.1",),  # Hydra's error, in the same one line and exit code
        ("--help",),
    ],
)
def test_toy_ann_is_python_m_pipeline_run_from_any_directory(tmp_path, args):
    by_module = run_door(*args, cwd=tmp_path)

    by_script = script("toy-ann", *args, cwd=tmp_path)

    assert (by_script.returncode, by_script.stdout) == (by_module.returncode, by_module.stdout)
    assert by_script.stderr == by_module.stderr
    assert by_script.stdout or by_script.stderr


@pytest.mark.slow
@pytest.mark.parametrize("name, usage", [("toy-ann-server", "start,status,stop"), ("toy-ann-bench", "--fit-epochs")])
def test_the_operations_scripts_answer_help(tmp_path, name, usage):
    done = script(name, "--help", cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: ") and usage in done.stdout
