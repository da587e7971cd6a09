"""The Hydra door: one run per target, `python -m pipeline.run target=product train.epochs=50`,
or a sweep, `python -m pipeline.run -m target=sum,weighted_sum,product`.

Only the config machinery is imported up front, so a bad value is reported in about a second,
before TensorFlow, scikit-learn and MLflow (several seconds) are loaded.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from pipeline.config import to_run_config
from pipeline.errors import PipelineError

if TYPE_CHECKING:
    from pipeline.evaluation import Evaluation


def describe(name: str, run_id: str, evaluations: list[Evaluation]) -> str:
    """The human summary of a job: the run's own network, then how many initialisations converged."""
    ev = evaluations[0]
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
    if len(evaluations) > 1:
        held = sum(other.relations_hold for other in evaluations)
        lines.append(f"  initialisations    relations hold in {held} of {len(evaluations)} (seeds from model.seed up)")
    return "\n".join(lines)


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    try:
        run = to_run_config(cfg)
        from pipeline.job import run_target  # the heavy imports, only once the config is valid

        run_id, evaluations = run_target(run, Path(HydraConfig.get().runtime.output_dir))
    except PipelineError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    print(describe(run.target.name, run_id, evaluations))


if __name__ == "__main__":
    main()
