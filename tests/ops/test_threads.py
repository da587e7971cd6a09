"""One thread in each of TensorFlow's pools, in every process that imports `pipeline` and in every job of a
joblib sweep, counted in the threads TensorFlow really starts; the user's own values win. (Which setting is
faster is measured by `python -m pipeline.bench`, never asserted.)"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pipeline.config import PROJECT_ROOT
from pipeline.ops.threads import INTER_OP, INTER_OP_THREAD, INTRA_OP, XLA_INTRA_OP_THREAD, install

# A job that starts both pools (an eager op, a compiled function) and reports the two variables and each
# pool's threads, counted by name; it imports nothing of the project, so what it sees came from outside it.
POOLS = f"""
def pools():
    import collections, os, pathlib
    import tensorflow as tf
    tf.function(jit_compile=True)(lambda x: x * 2)(tf.ones(2))
    names = collections.Counter((t / "comm").read_text().strip() for t in pathlib.Path("/proc/self/task").iterdir())
    variables = [os.environ.get("{INTRA_OP}"), os.environ.get("{INTER_OP}")]
    return os.getpid(), [*variables, names["{XLA_INTRA_OP_THREAD}"], names["{INTER_OP_THREAD}"]]
"""
PRINT_POOLS = "\nprint(*pools()[1])"


def python(code: str, **env: str | None) -> subprocess.CompletedProcess:
    """`python -c code` in a fresh process, with these variables set (None: unset)."""
    environ = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    for name, value in env.items():
        environ.pop(name, None)
        if value is not None:
            environ[name] = value
    command = [sys.executable, "-c", code]
    return subprocess.run(command, cwd=PROJECT_ROOT, env=environ, capture_output=True, text=True, timeout=600)


def test_the_default_is_one_thread_per_pool_and_a_value_already_set_is_kept():
    environ = {INTER_OP: "4"}

    install(environ)

    assert environ == {INTRA_OP: "1", INTER_OP: "4"}


@pytest.mark.slow  # a fresh process loads TensorFlow: seconds each
@pytest.mark.parametrize(
    "imports",
    [
        "import pipeline",
        "import tensorflow, pipeline",  # TensorFlow starts its pools at its first op, not when it is imported
    ],
)
def test_a_process_that_imports_pipeline_runs_tensorflow_with_one_thread_per_pool(imports):
    done = python(imports + POOLS + PRINT_POOLS, **{INTRA_OP: None, INTER_OP: None})

    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["1", "1", "1", "1"]


@pytest.mark.slow
def test_the_users_own_thread_counts_win():
    done = python("import pipeline" + POOLS + PRINT_POOLS, **{INTRA_OP: "2", INTER_OP: "3"})

    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["2", "3", "2", "3"]


@pytest.mark.slow
def test_each_job_of_a_joblib_sweep_runs_tensorflow_with_one_thread_per_pool():
    """The launcher's process imported `pipeline`; its loky workers inherit the setting, as each job of
    `hydra/launcher=joblib hydra.launcher.n_jobs=2` does: on 2 cores, never more threads than the core it owns."""
    sweep = "jobs = joblib.Parallel(n_jobs=2)(joblib.delayed(pools)() for _ in range(2))"
    code = f"import pipeline, joblib{POOLS}\n{sweep}\nfor pid, values in jobs:\n    print(pid, *values)"

    done = python(code, **{INTRA_OP: None, INTER_OP: None})

    assert done.returncode == 0, done.stderr[-3000:]
    jobs = [line.split() for line in done.stdout.splitlines()]
    assert [pools for _, *pools in jobs] == [["1", "1", "1", "1"]] * 2
    assert len({pid for pid, *_ in jobs}) == 2  # two workers, each with pools of its own
