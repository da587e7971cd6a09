"""Stage `train@<target>`: fit the network; save the model, its training record and the loss curve data."""
from __future__ import annotations

from pathlib import Path

from pipeline.config import PipelineConfig
from pipeline.errors import TrainingDiverged
from pipeline.files import write_text
from pipeline.report import loss_csv
from pipeline.stages import load_problem, run_stage, target_argument
from pipeline.tracking import prepare_store
from pipeline.training import train_target


def train(pipeline: PipelineConfig, args: list[str]) -> None:
    name = target_argument(pipeline, args)
    run = pipeline.run_config(name)
    problem = load_problem(pipeline, name)
    prepare_store(run.tracking)  # the evaluate stage records the run: fail now, not after the training
    try:
        _, records = train_target(run, problem, Path(pipeline.paths.models) / name)
    except TrainingDiverged as diverged:  # no model, so no evaluate stage: the FAILED run is recorded here
        from pipeline.recording import record_failed_target

        record_failed_target(run, diverged)
        raise
    write_text(Path(pipeline.paths.plots) / "loss" / f"{name}.csv", loss_csv(records[0].loss_history))


if __name__ == "__main__":
    run_stage(train)
