"""Compose conf/pipeline.yaml into params.yaml, as DVC does on `dvc exp run`, for `dvc repro`; and tell the
stages whether params.yaml was composed from the conf/ they see.

`python -m pipeline.stages.compose` after editing conf/. params.yaml records a digest of conf/'s files
(`conf_digest`, hydra_plugins/toy_ann_lab) and the stages compare only that: params.yaml may be edited by hand
or restored by `dvc exp apply`, and `dvc repro` runs on it, while an edit to conf/ not composed stops them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from pipeline.config import CONF_DIR, PROJECT_ROOT, to_plain
from pipeline.errors import ConfigError
from pipeline.files.atomic import write_text
from pipeline.files.layout import PARAMS_FILE

PIPELINE_CONFIG = "pipeline"
DIGEST_KEY = "conf_digest"  # conf/pipeline.yaml's `conf_digest: ${conf_digest:}`


def conf_digest(conf_dir: Path) -> str:
    """The digest the resolver in hydra_plugins/ writes, which importing it registers (`${conf_digest:}`),
    as DVC's plugin scan does. hydra_plugins/ is no installed package: DVC finds it by putting the project's
    root on the path (its `hydra.plugins_path`), and so does this, for `toy-ann-compose` from any directory."""
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.append(str(PROJECT_ROOT))
    from hydra_plugins.toy_ann_lab import conf_digest as digest_of

    return digest_of(conf_dir)


def compose_pipeline() -> dict[str, Any]:
    conf_digest(CONF_DIR)  # registers the resolver conf/pipeline.yaml uses
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name=PIPELINE_CONFIG)
    return to_plain(cfg)


def check_params_current(params: dict[str, Any], conf_dir: Path = CONF_DIR, in_dvc_copy: bool = False) -> None:
    """Refuse a params.yaml composed from another conf/ than the one here: `dvc repro` would otherwise run on
    values that conf/ no longer gives. Values are not compared, so a hand edit of params.yaml is taken."""
    recorded, current = params.get(DIGEST_KEY), conf_digest(conf_dir)
    if recorded != current:
        composed = f"conf_digest {recorded} in params.yaml" if recorded else "no conf_digest in params.yaml"
        raise ConfigError(
            f"params.yaml is not conf/ composed: conf/ changed after it was ({composed}, {current} for conf/ now): "
            "run `python -m pipeline.stages.compose` after editing conf/, or `dvc exp run` (which composes it, "
            "with any -S overrides)"
            + (
                "; `dvc exp run --temp` and `--queue` compose in the workspace but run in a copy of the files git "
                "tracks: `git add` new files under conf/"
                if in_dvc_copy
                else ""
            )
        )


def main() -> None:
    write_text(PARAMS_FILE, OmegaConf.to_yaml(OmegaConf.create(compose_pipeline())))
    print(f"wrote {PARAMS_FILE} from conf/pipeline.yaml")


if __name__ == "__main__":
    main()
