"""Stage `train@<target>`: fit the network, save it, and open the target's MLflow run with the training record."""
from __future__ import annotations

from pathlib import Path

from pipeline.config import PipelineConfig
from pipeline.files import write_json, write_text
from pipeline.report import loss_csv, loss_curve_figure
from pipeline.stages import RUN_FILE, load_problem, run_stage, target_argument
from pipeline.tracking import current_tracking_uri, log_training, training_run
from pipeline.training import save_training, train_network


def train(pipeline: PipelineConfig, args: list[str]) -> None:
    name = target_argument(pipeline, args)
    run = pipeline.run_config(name)
    problem = load_problem(pipeline, name)
    model_dir = Path(pipeline.paths.models) / name
    with training_run(run) as run_id:
        result = train_network(
            problem.z_train, problem.y_train, run.model.seed, run.train.epochs, run.train.batch_size, run.train.lr
        )
        model_file = save_training(result, model_dir)
        write_text(Path(pipeline.paths.plots) / "loss" / f"{name}.csv", loss_csv(result.loss_history))
        log_training(result, model_file, loss_curve_figure(result.loss_history, name))
        write_json(model_dir / RUN_FILE, {"run_id": run_id, "tracking_uri": current_tracking_uri()})


if __name__ == "__main__":
    run_stage(train)
