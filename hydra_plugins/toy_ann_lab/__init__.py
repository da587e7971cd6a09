"""The OmegaConf resolver `${conf_digest:}`: a digest of conf/'s files, which conf/pipeline.yaml records in
params.yaml (`conf_digest`), so a DVC stage can tell whether params.yaml was composed from the conf/ it sees.

No Hydra plugin class lives here: Hydra imports every module under `hydra_plugins/` when it scans for plugins,
and this one registers the resolver when imported. DVC runs that scan with the repository's root on the path
(its `hydra.plugins_path`, by default the root) just before it composes params.yaml on `dvc exp run`;
`python -m pipeline.stages.compose` and the stages import this module themselves.

Only the standard library and OmegaConf: DVC imports this module in its own process, where `pipeline` may be
the package of another clone (an editable install points at the clone it was made from).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from omegaconf import OmegaConf

RESOLVER = "conf_digest"
CONF_DIR = Path(__file__).resolve().parents[2] / "conf"  # the conf/ beside this hydra_plugins/
DIGEST_CHARS = 16  # 64 bits tell an edited conf/ from the one composed; `dvc exp show` has a column for it


def conf_files(conf_dir: Path) -> list[Path]:
    """What Hydra composes from: every .yaml file under conf/ (not an editor's backup or swap file)."""
    return sorted(conf_dir.rglob("*.yaml"), key=lambda path: path.relative_to(conf_dir).as_posix())


def conf_digest(conf_dir: Path = CONF_DIR) -> str:
    """sha256 of each file's path relative to conf/ and of its bytes, in path order: the same for the same
    content in any clone or in DVC's temporary copies, whatever their location, mtimes or permissions."""
    digest = hashlib.sha256()
    for path in conf_files(conf_dir):
        for part in (path.relative_to(conf_dir).as_posix().encode(), path.read_bytes()):
            digest.update(len(part).to_bytes(8, "big"))  # length-prefixed: no two file sets hash alike by shifting bytes
            digest.update(part)
    return digest.hexdigest()[:DIGEST_CHARS]


# replace=True: Hydra's plugin scan executes this module again even when it is already imported.
OmegaConf.register_new_resolver(RESOLVER, lambda: conf_digest(), replace=True)
