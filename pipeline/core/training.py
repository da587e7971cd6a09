"""Training a network of the family: the post's minibatch training on MSE with the configured optimizer, by
either engine, from the seed's initialisation; with `train.inits` > 1 from the next seeds' initialisations
alongside it on the same batches, with `train.replicates` > 1 as independent trainings (the next seeds'
initialisations and batch orders). Watched for divergence; keeps every epoch's weights. Saves nothing."""

from __future__ import annotations

import logging
import math
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import keras
from tqdm import tqdm

from pipeline.config import Dtype, Engine, ModelConfig, TrainConfig
from pipeline.core.engines import EpochResult, batch_orders, compiled_epochs, keras_epochs, replicate_orders
from pipeline.core.network import build_network, network_weights, set_network_weights
from pipeline.core.targets import TargetProblem
from pipeline.core.weights import TrainingRecord, WeightStack
from pipeline.errors import TrainingDiverged

log = logging.getLogger(__name__)


@dataclass
class TrainingResult:
    model: keras.Model  # holds the primary network: the one initialised from the seed itself
    records: list[TrainingRecord]  # one per initialisation or replicate, the primary first
    own_batches: bool  # the networks are replicates, each on its own batches, not initialisations on shared ones

    @property
    def record(self) -> TrainingRecord:
        return self.records[0]


def _progress_bar(epochs: int) -> tqdm:
    """Epoch, loss and time left on a terminal, at most four updates a second; nothing when stderr is not
    a terminal (logs, CI, DVC piped), where one line at the end says how training went."""
    return tqdm(total=epochs, desc="training", unit="epoch", mininterval=0.25, disable=None, file=sys.stderr)


EpochWatcher = Callable[[int, float], None]  # (epoch from 1, the primary's loss): e.g. its run, live


@dataclass
class _Epochs:
    """What the training keeps of its epochs: the run's own network's weights after every epoch (its pictures
    and per-epoch relations read them), every network's after the last `keep_last` (the second figure's
    candidates; all when None), and every network's loss history."""

    primary: list[WeightStack]
    recent: deque[WeightStack]
    losses: list[list[float]]

    def trajectory(self, k: int) -> WeightStack:
        return WeightStack.concat(self.primary) if k == 0 else WeightStack.along(list(self.recent), k)


def _run_epochs(
    epochs: int, networks: int, results: Iterator[EpochResult], watch: EpochWatcher | None, keep_last: int | None
) -> _Epochs:
    """Runs the engine's epochs; stops when the primary's loss stops being finite, and then closes the engine
    (its threads end with it, not with the garbage collector)."""
    kept = _Epochs(primary=[], recent=deque(maxlen=keep_last), losses=[[] for _ in range(networks)])
    try:
        with _progress_bar(epochs) as bar:
            for epoch_weights, epoch_losses in results:
                kept.primary.append(epoch_weights.between(0, 1))
                kept.recent.append(epoch_weights)
                for history, loss in zip(kept.losses, epoch_losses, strict=True):
                    history.append(float(loss))
                bar.set_postfix(loss=kept.losses[0][-1], refresh=False)
                bar.update()
                if watch is not None:
                    watch(len(kept.losses[0]), kept.losses[0][-1])
                if not math.isfinite(kept.losses[0][-1]):
                    break
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            close()
    return kept


def _divergence_fix(train: TrainConfig, x_size: int) -> str:
    """What to change after a divergence: the learning rate first, and what else scales each step (a step
    grows with the inputs per row: data.x_size=100000 diverges at the post's lr, which no lr is to blame for)."""
    return (
        f"lower train.lr (was {train.lr}); each step also grows with the inputs per row (data.x_size={x_size}) and "
        "the targets' scale"
    )


def train_network(
    problem: TargetProblem,
    model: ModelConfig,
    train: TrainConfig,
    watch: EpochWatcher | None = None,
    keep_last: int | None = None,
) -> TrainingResult:
    """`train.optimizer` at `train.lr` on MSE, `train.epochs` passes of batches of `train.batch_size` in the
    orders drawn from model.seed, from that seed's initialisation. With `train.inits` > 1 (compiled engine),
    also from those of seeds model.seed+1, model.seed+2, ... alongside it, on the same batches; with
    `train.replicates` > 1, network k takes both its initialisation and its batch orders from seed
    model.seed+k: K independent trainings, network 0 the run's own. `watch` sees every epoch's loss as it
    comes. The records keep the primary's weights after every epoch, the others' after the last `keep_last`
    epochs (every epoch when None)."""
    z, y = problem.z_train, problem.y_train
    x_size = z.shape[1]
    networks = max(train.inits, train.replicates)
    if networks > 1:  # Keras builds each: ~10 ms apiece, so a million take hours, which the log says up front
        log.info("drawing %d initialisations with Keras's seeded initialisers", networks)
    seeds = tqdm(
        range(1, networks),
        desc="initialisations",
        unit="network",
        mininterval=0.25,
        disable=None if networks > 1 else True,
        file=sys.stderr,
    )
    initials = [network_weights(build_network(x_size, model, model.seed + k)) for k in seeds]
    network = build_network(x_size, model, model.seed)  # built last: Keras's global seed is then the primary's
    initials.insert(0, network_weights(network))
    if train.replicates > 1:
        orders = replicate_orders(len(z), train.epochs, [model.seed + k for k in range(train.replicates)])
    else:
        orders = batch_orders(len(z), train.epochs, model.seed)
    log.info(
        "training %d epochs on %d rows (%s engine, %s, %s, %d %s)",
        train.epochs,
        len(z),
        train.engine.value,
        train.optimizer.value,
        train.dtype.value,
        networks,
        "replicates" if train.replicates > 1 else "initialisations",
    )
    start = time.monotonic()
    if train.engine is Engine.keras:
        epochs = keras_epochs(network, z, y, orders, batch_size=train.batch_size, train=train)
    else:
        epochs = compiled_epochs(initials, z, y, orders, model=model, train=train)
    kept = _run_epochs(train.epochs, len(initials), epochs, watch, keep_last)
    losses = kept.losses
    seconds = time.monotonic() - start
    log.info("trained %d epochs in %.1f s, final loss %.3g", len(losses[0]), seconds, losses[0][-1])
    if not all(math.isfinite(v) for v in losses[0]):
        raise TrainingDiverged(
            f"training loss became {losses[0][-1]} at epoch {len(losses[0])}: {_divergence_fix(train, x_size)}", losses[0]
        )
    learned = kept.recent[-1]
    if not learned[0].finite():  # each epoch's loss is taken before its updates: the last one is unchecked
        raise TrainingDiverged(
            f"training weights became NaN or infinite in epoch {len(losses[0])}: {_divergence_fix(train, x_size)}", losses[0]
        )
    if train.dtype is not Dtype.float32:  # a float32 model would round away what float64 learned
        network = build_network(x_size, model, model.seed, dtype=train.dtype.value)
    set_network_weights(network, learned[0])  # the compiled engine's result, into the Keras model that is saved
    records = [
        TrainingRecord(initial, kept.trajectory(k), history, seconds)
        for k, (initial, history) in enumerate(zip(initials, losses, strict=True))
    ]
    return TrainingResult(network, records, own_batches=train.replicates > 1)
