"""Stage `train@<target>`: fit the network; save the model, its training record and the loss curve data.

MLflow is loaded only to record a failure: the evaluate stage records the run."""

from __future__ import annotations

from pipeline.core.training import train_network
from pipeline.files.atomic import write_text
from pipeline.files.records import loss_csv, save_training
from pipeline.stages import Stage, record_failure_lazily, run_stage
from pipeline.tracking.store import check_reachable


def train(stage: Stage) -> None:
    run = stage.target_run()
    problem = stage.problem(run)
    uri = stage.tracking_uri(run)
    check_reachable(uri)  # the evaluate stage records the run: fail now, not after the training
    stage.failures.record = record_failure_lazily(uri, run)
    result = train_network(problem, run.model, run.train)
    save_training(result, stage.layout.model_dir(run.target.name))
    write_text(stage.layout.loss_csv(run.target.name), loss_csv(result.record.loss_history))


if __name__ == "__main__":
    run_stage(train)
