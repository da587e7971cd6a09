"""Stage `train@<target>`: fit the network; save the model, its training record and the loss curve data.

MLflow is loaded only to record a training that failed or was interrupted: the evaluate stage records
the run."""

from __future__ import annotations

from pipeline.config import RunConfig, to_plain
from pipeline.core.training import train_network
from pipeline.failures import RecordFailure, RunStatus
from pipeline.files.atomic import write_text
from pipeline.files.records import loss_csv, save_training
from pipeline.stages import StageContext, run_stage
from pipeline.tracking.store import check_reachable, resolve_tracking_uri


def lazy_failure_recorder(uri: str, run: RunConfig) -> RecordFailure:
    """Records the target's failed or interrupted run, loading MLflow only if there is one to record."""

    def record(error: BaseException, status: RunStatus) -> None:
        from pipeline.tracking.runs import RunRecorder, open_store

        RunRecorder(open_store(uri, run.tracking.experiment), run.target.name, to_plain(run)).fail(error, status)

    return record


def train(stage: StageContext) -> None:
    run = stage.target_run()
    problem = stage.problem(run)
    uri = resolve_tracking_uri(run.tracking.uri, stage.environment)
    check_reachable(uri)  # the evaluate stage records the run: a store that does not answer fails now
    stage.failures.record = lazy_failure_recorder(uri, run)
    result = train_network(problem, run.model, run.train)
    save_training(result, stage.layout.model_dir(run.target.name))
    write_text(stage.layout.loss_file(run.target.name), loss_csv(result.record.loss_history))


if __name__ == "__main__":
    run_stage(train)
