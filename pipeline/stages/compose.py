"""Compose conf/pipeline.yaml into params.yaml, as DVC does on `dvc exp run`, for `dvc repro`.

`python -m pipeline.stages.compose` after editing conf/. For a one-off change, use `dvc exp run -S key=value`:
params.yaml is always conf/ composed, so the stages can tell when it is stale.
"""

from __future__ import annotations

from typing import Any

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from pipeline.config import CONF_DIR, flatten, to_plain
from pipeline.errors import ConfigError
from pipeline.files.atomic import write_text
from pipeline.files.layout import PARAMS_FILE

PIPELINE_CONFIG = "pipeline"


def compose_pipeline() -> dict[str, Any]:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name=PIPELINE_CONFIG)
    return to_plain(cfg)


def check_params_current(params: dict[str, Any]) -> None:
    """Refuse a params.yaml that is not conf/ composed: `dvc repro` would otherwise run on stale values."""
    have, want = flatten(params), flatten(compose_pipeline())
    differing = sorted(key for key in have.keys() | want.keys() if have.get(key) != want.get(key))
    if differing:
        shown = "; ".join(f"{key}: {have.get(key)!r} in params.yaml, {want.get(key)!r} in conf/" for key in differing[:5])
        more = f"; and {len(differing) - 5} more" if len(differing) > 5 else ""
        raise ConfigError(
            f"params.yaml is not conf/ composed ({shown}{more}): run `python -m pipeline.stages.compose` "
            f"after editing conf/, or `dvc exp run` (which composes it, with any -S overrides)"
        )


def main() -> None:
    write_text(PARAMS_FILE, OmegaConf.to_yaml(OmegaConf.create(compose_pipeline())))
    print(f"wrote {PARAMS_FILE} from conf/pipeline.yaml")


if __name__ == "__main__":
    main()
