"""Stage `train@<target>`: fit the network, save it, and open the target's MLflow run with the training record."""
from __future__ import annotations

from pathlib import Path

from pipeline.config import PipelineConfig
from pipeline.experiment import train_and_record
from pipeline.files import write_json
from pipeline.stages import RUN_FILE, load_problem, run_stage, target_argument
from pipeline.tracking import current_tracking_uri, training_run


def train(pipeline: PipelineConfig, args: list[str]) -> None:
    name = target_argument(pipeline, args)
    run = pipeline.run_config(name)
    model_dir = Path(pipeline.paths.models) / name
    loss_file = Path(pipeline.paths.plots) / "loss" / f"{name}.csv"
    with training_run(run) as run_id:
        train_and_record(run, load_problem(pipeline, name), model_dir, loss_file)
        write_json(model_dir / RUN_FILE, {"run_id": run_id, "tracking_uri": current_tracking_uri()})


if __name__ == "__main__":
    run_stage(train)
