"""Stage `generate`: the post's draws, written as one .npz per dataset plus the drawn m and c."""
from __future__ import annotations

import logging
from pathlib import Path

from pipeline.config import PipelineConfig
from pipeline.data import coefficients_path, dataset_path, save_coefficients, save_split
from pipeline.stages import run_stage

log = logging.getLogger(__name__)


def generate(pipeline: PipelineConfig, args: list[str]) -> None:
    draws = pipeline.data.draw()
    data_dir = Path(pipeline.paths.data)
    for dataset, split in draws.splits.items():
        save_split(dataset_path(data_dir, dataset), split)
        log.info("wrote %s: %d train, %d test rows", dataset_path(data_dir, dataset), len(split.x_train), len(split.x_test))
    save_coefficients(coefficients_path(data_dir), draws.coefficients)


if __name__ == "__main__":
    run_stage(generate)
