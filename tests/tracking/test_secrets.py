"""A password in a tracking URI never reaches what the project writes or prints about a run: its params,
its config.yaml, its tags and name in a sweep, its failure reason, Hydra's saved files, the log lines. The
URI keeps what tells stores apart (scheme, user, host, database)."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from pipeline.errors import TrackingError
from pipeline.failures import RunStatus
from pipeline.redaction import redact, redact_values
from pipeline.tracking.runs import RunRecorder, open_store
from pipeline.tracking.secrets import RedactLogRecords, redact_file
from pipeline.tracking.sweep import SweepJob, SweepParent
from pipeline.tracking.tags import FAILURE_TAG, OVERRIDE_TAG_PREFIX, OVERRIDES_TAG
from tests.helpers import EXPERIMENT, TINY

PASSWORD = "s3cr3t-Pa55"
DATABASE_URI = f"postgresql://mlflow:{PASSWORD}@db.example:5433/mlflow"
SHOWN = "postgresql://mlflow:***@db.example:5433/mlflow"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (DATABASE_URI, SHOWN),
        (f"http://alice:{PASSWORD}@mlflow.example:5000", "http://alice:***@mlflow.example:5000"),
        (
            f"postgresql+psycopg://u:{PASSWORD}@h/db and mysql://v:{PASSWORD}@k/db",
            "postgresql+psycopg://u:***@h/db and mysql://v:***@k/db",
        ),
        (f"tracking.uri={DATABASE_URI}", f"tracking.uri={SHOWN}"),
        ("postgresql://u:pa/ss@h/db", "postgresql://u:***@h/db"),
        (f"postgresql://u@h/db?password={PASSWORD}&sslmode=require", "postgresql://u@h/db?password=***&sslmode=require"),
        (
            f"#0 : tracking.uri=postgresql\\://mlflow\\:{PASSWORD}@h\\:5433/db",
            "#0 : tracking.uri=postgresql\\://mlflow\\:***@h\\:5433/db",
        ),
    ],
)
def test_a_uris_password_is_replaced_and_the_rest_of_the_uri_kept(text, shown):
    assert redact(text) == shown


@pytest.mark.parametrize(
    "text",
    ["http://127.0.0.1:5000/path", "sqlite:////tmp/mlflow.db", "postgresql://mlflow@db/mlflow", "user:pw@host", "no uri"],
)
def test_text_without_a_password_in_a_uri_is_left_as_it_is(text):
    assert redact(text) == text


def test_a_configuration_is_redacted_at_every_depth_and_its_other_values_kept():
    config = {"tracking": {"uri": DATABASE_URI, "experiment": "toy-ann"}, "train": {"lr": 0.003}, "notes": [DATABASE_URI, 1]}

    assert redact_values(config) == {
        "tracking": {"uri": SHOWN, "experiment": "toy-ann"},
        "train": {"lr": 0.003},
        "notes": [SHOWN, 1],
    }


def test_a_runs_params_config_and_failure_reason_hold_no_password(ready_store, tmp_path):
    """The job's config names its store with the password; the store it records into is another."""
    recorder = RunRecorder(open_store(ready_store, EXPERIMENT), "sum", {"tracking": {"uri": DATABASE_URI}})
    run_id = recorder.start()
    recorder.fail(TrackingError(f"MLflow store {DATABASE_URI} is not usable"), status=RunStatus.FAILED)

    client = MlflowClient(tracking_uri=ready_store)
    run = client.get_run(run_id)
    config = Path(client.download_artifacts(run_id, "config.yaml", str(tmp_path))).read_text()
    assert run.data.params["tracking.uri"] == SHOWN
    assert PASSWORD not in config and SHOWN in config
    assert run.data.tags[FAILURE_TAG] == f"MLflow store {SHOWN} is not usable"
    assert not [key for key, value in run.data.tags.items() if PASSWORD in value]


def test_a_sweep_jobs_name_and_override_tags_hold_no_password(ready_store):
    parent = SweepParent("parent-id", open_store(ready_store, EXPERIMENT), "host")
    job = SweepJob(parent, 3, (("tracking.uri", DATABASE_URI), ("model.seed", "1")))

    assert job.run_name() == f"#3 tracking.uri={SHOWN} model.seed=1"
    assert job.tags()[OVERRIDES_TAG] == f"tracking.uri={SHOWN} model.seed=1"
    assert job.tags()[f"{OVERRIDE_TAG_PREFIX}tracking.uri"] == SHOWN


@pytest.mark.parametrize("password", [PASSWORD, "S3cret/x"])  # a `/` in it: urllib would end the user there
def test_a_database_store_that_does_not_answer_is_named_without_its_password(password):
    with pytest.raises(TrackingError) as raised:
        open_store(f"postgresql://mlflow:{password}@127.0.0.1:1/mlflow", EXPERIMENT)

    assert password not in str(raised.value) and "mlflow:***@127.0.0.1:1" in str(raised.value)


def test_a_log_line_and_its_traceback_hold_no_password():
    handler = _Collect()
    handler.addFilter(RedactLogRecords())
    logger = logging.getLogger("test_secrets")
    logger.addHandler(handler)
    try:
        try:
            raise ConnectionError(f"cannot reach {DATABASE_URI}")
        except ConnectionError:
            logger.exception("store %s failed", DATABASE_URI)
    finally:
        logger.removeHandler(handler)

    [line] = handler.lines
    assert PASSWORD not in line and f"store {SHOWN} failed" in line and f"cannot reach {SHOWN}" in line


def test_a_file_with_a_password_is_rewritten_without_it_and_one_without_is_not_touched(tmp_path):
    secret, plain = tmp_path / "config.yaml", tmp_path / "hydra.yaml"
    secret.write_text(f"tracking:\n  uri: {DATABASE_URI}\n")
    plain.write_text("tracking:\n  uri: null\n")
    plain_written = plain.stat().st_mtime_ns

    redact_file(secret)
    redact_file(plain)
    redact_file(tmp_path / "missing.yaml")

    assert secret.read_text() == f"tracking:\n  uri: {SHOWN}\n"
    assert plain.stat().st_mtime_ns == plain_written


@pytest.mark.slow
def test_a_run_leaves_no_password_in_hydras_files_its_log_or_its_error_line(tmp_path, project_root):
    """A database store that does not answer: Hydra has saved the job's config, its own and the overrides,
    the job has logged and failed, and none of it holds the password."""
    run_dir = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.run", f"tracking.uri=postgresql://mlflow:{PASSWORD}@127.0.0.1:1/mlflow",
         *TINY, f"hydra.run.dir={run_dir}"],
        cwd=project_root, capture_output=True, text=True, timeout=300,
    )  # fmt: skip

    written = {path: path.read_text(errors="replace") for path in run_dir.rglob("*") if path.is_file()}
    assert {"config.yaml", "hydra.yaml", "overrides.yaml"} <= {path.name for path in written}
    assert [path for path, text in written.items() if PASSWORD in text] == []
    assert "postgresql://mlflow:***@127.0.0.1:1/mlflow" in written[run_dir / ".hydra" / "overrides.yaml"]
    assert done.returncode == 2 and PASSWORD not in done.stdout + done.stderr, done.stderr[-2000:]


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
