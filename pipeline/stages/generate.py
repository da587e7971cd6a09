"""Stage `generate`: the post's draws, written as one .npz per dataset plus the drawn m and c."""

from __future__ import annotations

import logging

from pipeline.core.draws import draw_post_stream
from pipeline.files.data import save_coefficients, save_split
from pipeline.stages import StageContext, run_stage

log = logging.getLogger(__name__)


def generate(stage: StageContext) -> None:
    draws = draw_post_stream(stage.pipeline.data)
    for dataset, split in draws.splits.items():
        path = stage.layout.data_file(dataset)
        save_split(path, split)
        log.info("wrote %s: %d train, %d test rows", path, len(split.x_train), len(split.x_test))
    save_coefficients(stage.layout.coefficients_file(), draws.coefficients)


if __name__ == "__main__":
    run_stage(generate)
