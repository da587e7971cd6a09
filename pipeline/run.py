"""The Hydra door: one run per target, `python -m pipeline.run target=product train.epochs=50`,
or a sweep, `python -m pipeline.run -m target=sum,weighted_sum,product`.

Each job draws the post's stream in memory, trains, evaluates and records one MLflow run; its model,
weights and loss curve also land in the job's Hydra output directory.
"""
from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from pipeline.config import PipelineError, RunConfig, to_run_config
from pipeline.data import draw_post_stream
from pipeline.evaluation import Evaluation, evaluate_network
from pipeline.files import write_text
from pipeline.report import loss_csv, loss_curve_figure
from pipeline.targets import expected_relation, make_problem
from pipeline.tracking import log_evaluation, log_training, training_run
from pipeline.training import save_training, train_network


def run_target(run: RunConfig, out_dir: Path) -> tuple[str, Evaluation]:
    """Draw, train, evaluate and track one target; returns the MLflow run id and the evaluation."""
    data = run.data
    draws = draw_post_stream(
        seed=data.seed,
        x_size=data.x_size,
        n_train=data.n_train,
        n_test=data.n_test,
        gaussian_loc=data.gaussian.loc,
        gaussian_scale=data.gaussian.scale,
        gamma_shape=data.gamma.shape,
        gamma_scale=data.gamma.scale,
    )
    split = draws.splits[run.target.dataset]
    relation = expected_relation(run.target.coefficients, data.x_size, draws.coefficients)
    problem = make_problem(split.x_train, split.x_test, relation, run.target.space)
    with training_run(run) as run_id:
        result = train_network(
            problem.z_train, problem.y_train, run.model.seed, run.train.epochs, run.train.batch_size, run.train.lr
        )
        model_file = save_training(result, out_dir)
        write_text(out_dir / "loss.csv", loss_csv(result.loss_history))
        log_training(result, model_file, loss_curve_figure(result.loss_history, run.target.name))
        evaluation = evaluate_network(result.learned, problem, run.eval.atol)
        log_evaluation(evaluation)
    return run_id, evaluation


def describe(name: str, run_id: str, ev: Evaluation) -> str:
    lines = [
        f"target {name}  (MLflow run {run_id})",
        f"  test MSE          {ev.test_mse:.3g}",
        f"  m residual        {ev.m_residual:.3g}   c residual {ev.c_residual:.3g}",
        f"  relations hold    {ev.relations_hold} at atol {ev.atol:g}",
        f"  ReLU active       {ev.relu_active_fraction:.4f} of train rows, {ev.relu_active_fraction_test:.4f} of test rows",
        f"  true formula      {ev.true_formula}",
        f"  recovered formula {ev.recovered_formula}",
    ]
    if ev.true_formula_original:
        lines += [f"  true, original    {ev.true_formula_original}", f"  recovered, orig.  {ev.recovered_formula_original}"]
    return "\n".join(lines)


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    try:
        run = to_run_config(cfg)
        run_id, evaluation = run_target(run, Path(HydraConfig.get().runtime.output_dir))
    except PipelineError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    print(describe(run.target.name, run_id, evaluation))


if __name__ == "__main__":
    main()
