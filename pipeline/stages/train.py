"""Stage `train@<target>`: train the network, evaluate it and record its MLflow run, in one process, so the
run's times cover the work; write the model, the loss curve's data, the DVC metrics and the evaluation.

One stage, not a train and an evaluate stage: the evaluation takes well under a second, and a second
process would put its start-up (MLflow's import, seconds) inside the run. A new eval.atol reruns it and
records a new run."""

from __future__ import annotations

import logging

from pipeline.config import to_plain
from pipeline.files.atomic import write_json, write_text
from pipeline.files.records import loss_csv
from pipeline.job import train_and_evaluate
from pipeline.stages import StageContext, run_stage
from pipeline.tracking.runs import RunRecorder, open_store
from pipeline.tracking.store import resolve_tracking_uri

log = logging.getLogger(__name__)


def train(stage: StageContext) -> None:
    run = stage.target_run()
    name, layout = run.target.name, stage.layout
    problem = stage.problem(run)
    uri = resolve_tracking_uri(run.tracking.uri, stage.environment)
    recorder = RunRecorder(open_store(uri, run.tracking.experiment), name, to_plain(run))
    stage.failures.record = recorder.fail
    job = train_and_evaluate(run, problem, recorder, layout.data_file(run.target.dataset), layout.model_dir(name))
    evaluation = job.evaluation
    write_text(layout.loss_file(name), loss_csv(job.result.record.loss_history))
    write_json(layout.metrics_file(name), job.metrics())
    write_json(layout.evaluation_file(name), evaluation.to_dict())
    run_id = job.record(recorder, run.model.seed)
    verdicts = {"relations hold": evaluation.relations_hold, "local relations hold": evaluation.local_relations_hold}
    held = ", ".join(f"{verdict}: {holds}" for verdict, holds in verdicts.items() if holds is not None)
    log.info(
        "%s: test MSE %.3g, %s, %d linear region(s) (MLflow run %s)",
        name,
        evaluation.test_mse,
        held,
        evaluation.linear_regions,
        run_id,
    )


if __name__ == "__main__":
    run_stage(train)
