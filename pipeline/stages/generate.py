"""Stage `generate`: the post's draws, written as one .npz per dataset plus the drawn m and c."""

from __future__ import annotations

import logging

from pipeline.core.draws import draw_post_stream
from pipeline.files.data import save_coefficients, save_split
from pipeline.stages import Stage, run_stage

log = logging.getLogger(__name__)


def generate(stage: Stage) -> None:
    draws = draw_post_stream(stage.pipeline.data)
    for dataset, split in draws.splits.items():
        path = stage.layout.dataset(dataset)
        save_split(path, split)
        log.info("wrote %s: %d train, %d test rows", path, len(split.x_train), len(split.x_test))
    save_coefficients(stage.layout.coefficients(), draws.coefficients)


if __name__ == "__main__":
    run_stage(generate)
