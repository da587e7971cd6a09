"""Every environment variable the project reads, read here and only here: a door reads them once and
passes what it needs down, so no library code depends on the process's environment."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Environment:
    mlflow_tracking_uri: str | None  # MLflow's own: the store, when tracking.uri is not set
    # DVC's: `dvc exp run --queue` and `--temp` run the stages in a temporary copy of the repository that
    # DVC deletes afterwards, and point DVC_ROOT at the main one, where the default store lives.
    dvc_root: str | None

    @classmethod
    def read(cls) -> Environment:
        return cls(
            mlflow_tracking_uri=os.environ.get("MLFLOW_TRACKING_URI") or None,
            dvc_root=os.environ.get("DVC_ROOT") or None,
        )
