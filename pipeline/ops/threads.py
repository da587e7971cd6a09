"""TensorFlow's thread pools in every process of the project: one thread within an op (intra-op) and one
between ops (inter-op). `quiet_tensorflow.install()` calls `install()` when `pipeline` is imported; a value
the user set wins (`0` asks for TensorFlow's own choice, one thread per core in each pool).

TensorFlow reads TF_NUM_INTRAOP_THREADS and TF_NUM_INTEROP_THREADS once, when it starts its pools at its
first op (not when it is imported; both pools, XLA's compiled functions included, follow them: checked by
the threads' names). The API, `tf.config.threading`, would need TensorFlow imported to set the same thing.

Why one, measured on the project's 2-core machine on 2026-11-30 (TensorFlow 2.21; each setting in a process
of its own, the settings taking turns, medians; other engineers' tests shared the machine, so compare
settings within a line, not lines). These networks are tiny: the compiled engine runs its XLA loop on the
thread that calls it (161 of the 222 CPU ticks of a 300-epoch fit; the rest is XLA's compilation), and a
second thread in a pool never made a fit faster:
- idle: the compiled engine 5.9 ms an epoch with one thread per pool, 5.6 with two (TensorFlow's own on
  2 cores); model.fit 1045 against 1288 ms, and 1172 against 1442 ms of CPU; width 16 with Adam, 64
  networks at once: 306-352 against 452-486 ms;
- beside one busy process: the compiled engine 4.7 against 6.0 ms, model.fit 1.2 against 2.6 s;
- beside two or four busy processes, or four fits at once, no setting led twice running (beside two, one
  thread 8.2 against 10.6 ms in one run, 19.4 against 14.3 in the next): a fit got its share of the cores
  and took 2.5-4x as long with either setting. Ten times as long, as a user saw under load 5-6, did not
  appear with either.
`python -m pipeline.bench` measures both settings again, idle and beside a busy process.

Sweeps: every job of a joblib or Ray sweep runs with one thread per pool, whatever n_jobs or num_cpus: no job
has more threads than the cores it owns while a sweep runs no more jobs at once than there are cores. Joblib's
workers and a local Ray cluster's inherit this process's environment; on a Ray cluster started apart, a worker
unpickles the job's function from `pipeline.run`, which imports `pipeline` (this default) before the job's
first op. No callback computes cores // n_jobs: it could only give a job more threads than the one measured
best. A value set on a Ray driver does not reach a cluster started apart (Ray passes environment variables to
workers through `runtime_env`); the cluster's own environment, or this default, applies there.
"""

from __future__ import annotations

import collections
import os
from collections.abc import MutableMapping
from pathlib import Path

INTRA_OP = "TF_NUM_INTRAOP_THREADS"
INTER_OP = "TF_NUM_INTEROP_THREADS"
THREADS_PER_POOL = 1

# How Linux names the threads of TensorFlow's pools: XLA's intra-op pool (started by the first compiled
# function) and the inter-op pool.
XLA_INTRA_OP_THREAD = "tf_XLAEigen"
INTER_OP_THREAD = "tf_Compute"


def install(environ: MutableMapping[str, str] = os.environ) -> None:
    """The default, before TensorFlow's first op; a value already set is kept."""
    for name in (INTRA_OP, INTER_OP):
        environ.setdefault(name, str(THREADS_PER_POOL))


def thread_names() -> collections.Counter[str]:
    """This process's threads by name (Linux): how many threads TensorFlow's pools actually started."""
    names: collections.Counter[str] = collections.Counter()
    for task in Path("/proc/self/task").iterdir():
        try:
            names[(task / "comm").read_text().strip()] += 1
        except OSError:  # the thread ended meanwhile
            continue
    return names
