"""A quiet, honest terminal: importing `pipeline` keeps TensorFlow's CUDA and absl noise off stderr on this
CPU-only project, hides only what TF_CPP_MIN_LOG_LEVEL says to hide, and lets the user's own settings win."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.config import PROJECT_ROOT
from pipeline.quiet_tensorflow import ABSL_BANNER, hidden_by_tensorflow, min_log_level
from tests.helpers import TINY, run_door

INFO = b"I0000 00:00:1796006902.802750   19309 port.cc:153] oneDNN custom operations are on.\n"
WARNING = b"W0000 00:00:1796006902.802751   19309 env.cc:1] a warning\n"
ERROR = b"E0000 00:00:1796006902.802752   19309 cuda_platform.cc:52] an error\n"
OWN_LINE = b"a line that is not absl's\n"
NOISE = re.compile(r"cuda|cuInit|absl", re.IGNORECASE)


@pytest.mark.parametrize(
    "line, level, hidden",
    [
        (INFO, 2, True),
        (WARNING, 2, True),
        (ERROR, 2, False),
        (ABSL_BANNER + b"\n", 2, True),
        (OWN_LINE, 3, False),
        (INFO, 1, True),
        (WARNING, 1, False),
        (ABSL_BANNER + b"\n", 1, False),
        (ERROR, 3, True),
        (INFO, 0, False),
        (ABSL_BANNER + b"\n", 0, False),
    ],
)
def test_an_absl_line_is_hidden_exactly_when_tensorflow_would_hide_it_at_that_level(line, level, hidden):
    assert hidden_by_tensorflow(line, level) is hidden


@pytest.mark.parametrize("value, level", [(None, 0), ("2", 2), (" 3 ", 3), ("9", 0), ("info", 0)])
def test_the_level_is_read_as_tensorflow_reads_tf_cpp_min_log_level(value, level):
    assert min_log_level({} if value is None else {"TF_CPP_MIN_LOG_LEVEL": value}) == level


def python(code: str, cwd: Path, **env: str | None) -> subprocess.CompletedProcess:
    """`python -c code` in a fresh process that finds this project, with these variables set (None: unset)."""
    environ = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    for name, value in env.items():
        environ.pop(name, None)
        if value is not None:
            environ[name] = value
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=environ, capture_output=True, timeout=600)


@pytest.mark.parametrize(
    "level, shown",
    [
        (None, [ERROR, OWN_LINE]),  # the project's default, 2
        ("1", [ABSL_BANNER + b"\n", WARNING, ERROR, OWN_LINE]),
        ("0", [ABSL_BANNER + b"\n", INFO, WARNING, ERROR, OWN_LINE]),
    ],
)
def test_while_tensorflow_loads_stderr_loses_only_the_absl_lines_below_the_users_level(tmp_path, level, shown):
    (tmp_path / "tensorflow").mkdir()  # found first, from the working directory, as Python finds the real one
    lines = [ABSL_BANNER + b"\n", INFO, WARNING, ERROR, OWN_LINE]
    (tmp_path / "tensorflow" / "__init__.py").write_text(f"import os\nos.write(2, {b''.join(lines)!r})\n")

    code = "import pipeline, tensorflow; print(type(tensorflow.__loader__).__name__)"

    done = python(code, tmp_path, TF_CPP_MIN_LOG_LEVEL=level)

    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines(keepends=True) == shown
    assert done.stdout == b"SourceFileLoader\n"  # the module keeps its own loader


def test_the_users_own_tensorflow_settings_win(tmp_path):
    done = python(
        "import os, pipeline; print(os.environ['TF_CPP_MIN_LOG_LEVEL'], os.environ['TF_ENABLED_DEVICE_TYPES'])",
        tmp_path,
        TF_CPP_MIN_LOG_LEVEL="0",
        TF_ENABLED_DEVICE_TYPES="CPU,GPU",
    )

    assert done.stdout.split() == [b"0", b"CPU,GPU"]


@pytest.mark.slow
def test_a_door_that_trains_with_tensorflow_prints_no_cuda_or_absl_noise(project_root, tmp_path, mlflow_store):
    unset = {"TF_CPP_MIN_LOG_LEVEL", "TF_ENABLED_DEVICE_TYPES"}  # this process's, set when it imported pipeline
    environ = {name: value for name, value in os.environ.items() if name not in unset}

    done = run_door(*TINY, f"hydra.run.dir={tmp_path}", cwd=project_root, env=environ)

    assert done.returncode == 0, done.stderr[-3000:]
    assert "recovered formula" in done.stdout  # it did train
    assert [line for line in (done.stdout + done.stderr).splitlines() if NOISE.search(line)] == []


def test_a_tensorflow_that_aborts_while_loading_still_shows_why(tmp_path):
    """The filter is a process of its own: lines sent before a crash reach the terminal after it."""
    (tmp_path / "tensorflow").mkdir()
    fatal = b"F0000 00:00:1796006902.802753   19309 cpu_feature_guard.cc:1] This TensorFlow binary needs AVX\n"
    (tmp_path / "tensorflow" / "__init__.py").write_text(f"import os\nos.write(2, {INFO + fatal!r})\nos.abort()\n")

    done = python("import pipeline, tensorflow", tmp_path, TF_CPP_MIN_LOG_LEVEL=None)

    assert done.returncode != 0
    assert done.stderr == fatal
