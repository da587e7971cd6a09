"""Compose conf/pipeline.yaml into params.yaml, as DVC does on `dvc exp run`, for `dvc repro`.

`python -m pipeline.compose [override ...]`, e.g. `python -m pipeline.compose train.epochs=10`.
"""
from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from pipeline.config import CONF_DIR
from pipeline.files import write_text

PIPELINE_CONFIG = "pipeline"


def compose_pipeline(overrides: Sequence[str] = ()) -> dict[str, Any]:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name=PIPELINE_CONFIG, overrides=list(overrides))
    return OmegaConf.to_container(cfg, resolve=True)


def main(argv: Sequence[str] = sys.argv[1:]) -> None:
    params = compose_pipeline(argv)
    write_text(Path("params.yaml"), OmegaConf.to_yaml(OmegaConf.create(params)))
    print("wrote params.yaml from conf/pipeline.yaml" + (f" with {' '.join(argv)}" if argv else ""))


if __name__ == "__main__":
    main()
