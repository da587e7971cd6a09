"""toy-ann-lab: train tiny networks on functions with known answers and read the answer back from the weights.

Importing the package quiets TensorFlow on this CPU-only project, before any module loads it. Each setting
is a default: a variable the user set wins.

- `TF_CPP_MIN_LOG_LEVEL=2`: TensorFlow's C++ INFO and WARNING lines are hidden, its errors are not.
- `TF_ENABLED_DEVICE_TYPES=CPU`: TensorFlow registers no GPU device, so it never calls `cuInit`, whose
  failure on a machine without CUDA is an ERROR line (`failed call to cuInit`). Nothing else changes: the
  CPU device, oneDNN and XLA's CPU compiler are the same, and so are the numbers.
- TensorFlow's libraries log through absl while they load, before TensorFlow has read
  `TF_CPP_MIN_LOG_LEVEL`, and absl writes every such line to stderr under its banner "All log messages
  before absl::InitializeLog() is called are written to STDERR" (INFO: "oneDNN custom operations are
  on", "Could not find cuda drivers"). While `tensorflow` loads, this process's stderr passes through a
  filter that drops those lines whose severity is below `TF_CPP_MIN_LOG_LEVEL`, as TensorFlow would have,
  and the banner with them; every other line passes at once.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import re
import sys
import threading
from collections.abc import Mapping, Sequence
from types import ModuleType, TracebackType

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLED_DEVICE_TYPES", "CPU")

ABSL_BANNER = b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
# absl's prefix, e.g. `I0000 00:00:1796006902.802750   19309 port.cc:153] `: severity, time, thread, source line.
_ABSL_LINE = re.compile(rb"([IWEF])\d{4} \d\d:\d\d:\d+\.\d+ +\d+ \S+:\d+\] ")
_SEVERITIES = b"IWEF"  # the values of TF_CPP_MIN_LOG_LEVEL: 0 shows all, 1 hides INFO, 2 INFO and WARNING, 3 ERROR too


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


class _StderrFilter:
    """fd 2 through a pipe, for a while: each line that `hidden_by_tensorflow` keeps is written to the real
    stderr as soon as it is complete."""

    def __init__(self, level: int):
        self.level = level

    def __enter__(self) -> _StderrFilter:
        sys.stderr.flush()
        self.stderr = os.dup(2)
        read, write = os.pipe()
        os.dup2(write, 2)
        os.close(write)
        self.pump = threading.Thread(target=self._pass_lines, args=(read,), name="tensorflow-stderr", daemon=True)
        self.pump.start()
        return self

    def _pass_lines(self, read: int) -> None:
        with open(read, "rb") as pipe:
            for line in pipe:
                while line and not hidden_by_tensorflow(line, self.level):
                    line = line[os.write(self.stderr, line) :]

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        sys.stderr.flush()
        os.dup2(self.stderr, 2)  # closes the pipe's last writer (unless a child process inherited it)
        self.pump.join(timeout=10)
        if not self.pump.is_alive():
            os.close(self.stderr)


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


if "tensorflow" not in sys.modules and not any(isinstance(finder, _QuietTensorFlowImport) for finder in sys.meta_path):
    sys.meta_path.insert(0, _QuietTensorFlowImport())
