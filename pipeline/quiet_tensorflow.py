"""A quiet start for TensorFlow on this CPU-only project: `pipeline/__init__.py` calls `install()` before any
module loads TensorFlow. Each setting is a default: a variable the user set wins.

- `TF_CPP_MIN_LOG_LEVEL=2`: TensorFlow's C++ INFO and WARNING lines are hidden, its errors are not.
- `TF_ENABLED_DEVICE_TYPES=CPU`: TensorFlow registers no GPU device, so it never calls `cuInit`, whose
  failure on a machine without CUDA is an ERROR line (`failed call to cuInit`). Nothing else changes: the
  CPU device, oneDNN and XLA's CPU compiler are the same, and so are the numbers. (In a notebook that
  imports `pipeline`, TensorFlow therefore sees no GPU: set the variable to `CPU,GPU` first to keep it.)
- TensorFlow's libraries log through absl while they load, before TensorFlow has read
  `TF_CPP_MIN_LOG_LEVEL`, and absl writes every such line to stderr under its banner "All log messages
  before absl::InitializeLog() is called are written to STDERR" (INFO: "oneDNN custom operations are
  on", "Could not find cuda drivers"). While `tensorflow` loads, this process's stderr passes through a
  filter that drops those lines whose severity is below `TF_CPP_MIN_LOG_LEVEL`, as TensorFlow would have,
  and the banner with them; every other line passes at once.
- `TF_NUM_INTRAOP_THREADS=1`, `TF_NUM_INTEROP_THREADS=1`: one thread in each of TensorFlow's pools, for
  networks of a few parameters (`pipeline/ops/threads.py`: measured, and what it means for sweeps).

The filter is a small child process, not a thread: if the import crashes the process (a FATAL line, then
abort), the child still passes on every line it was sent, so the reason of a crash is never lost. No
environment switch does this: absl prints these lines before TensorFlow reads any.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from types import ModuleType, TracebackType
from typing import BinaryIO

from pipeline.ops import threads

ABSL_BANNER = b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
# absl's prefix, e.g. `I0000 00:00:1796006902.802750   19309 port.cc:153] `: severity, time, thread, source line.
_ABSL_LINE = re.compile(rb"([IWEF])\d{4} \d\d:\d\d:\d+\.\d+ +\d+ \S+:\d+\] ")
_SEVERITIES = b"IWEF"  # the values of TF_CPP_MIN_LOG_LEVEL: 0 shows all, 1 hides INFO, 2 INFO and WARNING, 3 ERROR too
# The filter's process: this module's `pass_lines`, from stdin to stdout (the real stderr).
_FILTER = "import sys; from pipeline.quiet_tensorflow import pass_lines; pass_lines(int(sys.argv[1]))"


def min_log_level(environ: Mapping[str, str] = os.environ) -> int:
    """TensorFlow's threshold, as it reads TF_CPP_MIN_LOG_LEVEL (anything else than 0-3 shows all)."""
    value = environ.get("TF_CPP_MIN_LOG_LEVEL", "0").strip()
    return int(value) if value in {"0", "1", "2", "3"} else 0


def hidden_by_tensorflow(line: bytes, level: int) -> bool:
    """Whether TensorFlow would have hidden this stderr line at `level`, had it read it before logging: an
    absl line below the level, or absl's banner, a WARNING."""
    if line.rstrip(b"\r\n") == ABSL_BANNER:
        return _SEVERITIES.index(b"W") < level
    found = _ABSL_LINE.match(line)
    return found is not None and _SEVERITIES.index(found.group(1)) < level


def pass_lines(level: int, source: BinaryIO | None = None, sink: BinaryIO | None = None) -> None:
    """Every line of `source` (stdin) that TensorFlow would not have hidden, to `sink` (stdout), at once."""
    source, sink = source or sys.stdin.buffer, sink or sys.stdout.buffer
    for line in source:
        if not hidden_by_tensorflow(line, level):
            sink.write(line)
            sink.flush()


class _StderrFilter:
    """fd 2 through the filter's process, for a while."""

    def __init__(self, level: int):
        self.level = level

    def __enter__(self) -> _StderrFilter:
        sys.stderr.flush()
        project = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [project, os.environ.get("PYTHONPATH")]))}
        self.filter = subprocess.Popen([sys.executable, "-c", _FILTER, str(self.level)], stdin=subprocess.PIPE, stdout=2, env=env)
        assert self.filter.stdin is not None
        self.stderr = os.dup(2)
        os.dup2(self.filter.stdin.fileno(), 2)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        sys.stderr.flush()
        os.dup2(self.stderr, 2)
        os.close(self.stderr)
        assert self.filter.stdin is not None
        self.filter.stdin.close()  # the filter reads to the end, passes the rest on, and exits
        self.filter.wait(timeout=10)


class _FilteredLoad(importlib.abc.Loader):
    """Runs a module's loader with stderr filtered, then hands the module its own loader back."""

    def __init__(self, loader: importlib.abc.Loader):
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        try:
            with _StderrFilter(min_log_level()):
                self.loader.exec_module(module)
        finally:
            module.__loader__ = self.loader
            if module.__spec__ is not None:
                module.__spec__.loader = self.loader


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` where Python would and loads it through `_FilteredLoad`."""

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if name != "tensorflow":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return None
        try:
            os.fstat(2)
        except OSError:  # no stderr to filter
            return spec
        spec.loader = _FilteredLoad(spec.loader)
        return spec


def install() -> None:
    """The defaults, and the filter for TensorFlow's import, once per process."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLED_DEVICE_TYPES", "CPU")
    threads.install()
    if "tensorflow" not in sys.modules and not any(isinstance(finder, _QuietTensorFlowImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowImport())
