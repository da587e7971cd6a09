"""A password in a tracking URI stays in the environment it came from: what Hydra writes and what the logs
say, redacted (`pipeline.redaction` holds the redaction itself, for every room, the failure path included).

A store may be given with its password in it (`postgresql://mlflow:<password>@host/mlflow`): SQLAlchemy
needs it so. From there it would reach everything the project writes about a run: the `tracking.uri`
param and the `config.yaml` artifact, a sweep's override tags and its children's names, Hydra's
`.hydra/*.yaml` and `multirun.yaml`, log lines and error lines, and through MLflow's unauthenticated
search API anyone who can reach the server. So every text the project writes or prints about a run goes
through `redact`, which keeps the URI (scheme, user, host, database: what a reader needs to tell stores
apart) and replaces the password with `***`. The process itself keeps the real URI: it must connect.

For an MLflow tracking server, MLflow's own variables keep the password out of the URI altogether:
`MLFLOW_TRACKING_USERNAME` and `MLFLOW_TRACKING_PASSWORD` (docs/tracking.md); for PostgreSQL, libpq's
`PGPASSWORD` or `~/.pgpass` do the same.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from pipeline.files.atomic import write_text
from pipeline.redaction import redact


def redact_file(path: Path) -> None:
    """Rewrite a file the project does not write itself (Hydra's) without its passwords; atomically, so a
    reader, or another job redacting the same sweep file, never sees it half-written."""
    if not path.is_file():
        return
    text = path.read_text()
    clean = redact(text)
    if clean != text:
        write_text(path, clean)


HYDRA_JOB_FILES = ("config.yaml", "hydra.yaml", "overrides.yaml")  # what Hydra saves in <output dir>/.hydra
MULTIRUN_FILE = "multirun.yaml"  # what Hydra's basic sweeper saves in the sweep directory


class RedactHydraFiles(Callback):
    """Hydra saves the job's config, its own config and the overrides before the job starts, and a sweep's
    config when it starts, each with the password as typed. Hydra has no hook to change what it writes,
    but it saves them before `on_job_start`: so the job's files, and its sweep's, are redacted there, before
    the job does anything else. (A job on another machine cannot reach its sweep's file: the sweep's
    summary redacts it before it logs it, pipeline.tracking.sweep.)"""

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        subdir = OmegaConf.select(config, "hydra.output_subdir", default=None)
        if subdir is not None:
            for name in HYDRA_JOB_FILES:
                redact_file(Path(config.hydra.runtime.output_dir) / subdir / name)
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            redact_file(Path(config.hydra.sweep.dir) / MULTIRUN_FILE)


class RedactLogRecords(logging.Filter):
    """For the log handlers of conf/hydra/*_logging: no password reaches the terminal or a run.log, whoever
    logs it (the project, MLflow, SQLAlchemy, Hydra's launchers listing the jobs' overrides)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: logging reports it as its own error, which must not become the caller's
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info:  # a traceback's lines, formatted here once, as a handler would
            record.exc_text = redact(record.exc_text or logging.Formatter().formatException(record.exc_info))
        return True
