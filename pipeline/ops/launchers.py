"""What the project asks of Hydra's launchers beyond their own configs.

Ray binds a cluster it starts to the machine's network address, so that other nodes may join. The
cluster `hydra/launcher=ray` starts for one sweep never gets other nodes: `RayOnLoopback` tells Ray so,
through its one switch for it, before the launcher imports Ray, and the cluster then lives on 127.0.0.1.
A sweep on a cluster given by address (`hydra/launcher=ray_cluster`) is left as Ray sets it up.

TensorFlow's threads need no callback: every job, under any launcher, runs with one thread per pool
(`pipeline/ops/threads.py`).
"""

from __future__ import annotations

import os

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

RAY_LAUNCHER = "hydra_plugins.hydra_ray_launcher.ray_launcher.RayLauncher"
RAY_SINGLE_NODE_SWITCH = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # "0": no cluster, loopback only


def starts_a_local_ray_cluster(config: DictConfig) -> bool:
    launcher = OmegaConf.select(config, "hydra.launcher._target_", default=None)
    return launcher == RAY_LAUNCHER and OmegaConf.select(config, "hydra.launcher.ray.init.address", default=None) is None


class RayOnLoopback(Callback):
    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        if starts_a_local_ray_cluster(config):
            os.environ.setdefault(RAY_SINGLE_NODE_SWITCH, "0")  # inherited by every Ray process of the sweep
