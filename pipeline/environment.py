"""Every environment variable the project reads, read here and only here: a door reads them once and
passes what it needs down, so no library code depends on the process's environment. And the bounds the
project gives MLflow's HTTP client where the user set none."""

from __future__ import annotations

import os
from collections.abc import MutableMapping
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


# MLflow's HTTP client retries a failing server 7 times, 4 to 120 s apart (measured: 261 s before a job
# against a server answering 503 failed), and waits 120 s for each answer: against a tracking server that
# dies mid-job, the live loss, then each call of the result, then the failure's own record would stall that
# long. Its defaults ride out a hosted service's rate limits; this project's server is MLflow's own, which
# has none. Bounded, a call gives up after 3 retries 0, 2 and 4 s apart on a server error (about 7 s), or
# after 30 s of silence a try.
MLFLOW_HTTP_WAITS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}


SUPPRESS_RUN_URLS = "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"  # MLflow prints `View run ... at: <tracking URI>/#/...`


def bound_mlflow_http_waits(environ: MutableMapping[str, str] = os.environ, *, uri_holds_password: bool = False) -> None:
    """Before a process's first call to a tracking server (MLflow reads them at every call); a value the user
    set wins. A URI that holds a password is never printed: MLflow prints each run's address, on stdout,
    past every log filter, from the tracking URI as given."""
    for name, value in MLFLOW_HTTP_WAITS.items():
        environ.setdefault(name, value)
    if uri_holds_password:
        environ[SUPPRESS_RUN_URLS] = "true"
