"""Training the network: minibatch SGD on MSE, by the post's model.fit or the compiled engine, watched
for divergence."""
from __future__ import annotations

import logging
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from tqdm import tqdm

from pipeline.config import Engine, RunConfig
from pipeline.errors import TrainingDiverged
from pipeline.engines import sgd_epochs, shuffled_orders
from pipeline.files import atomic_path
from pipeline.model import build_network, network_weights, set_network_weights
from pipeline.records import MODEL_FILE, TrainingRecord, save_inits, save_record
from pipeline.relations import NetworkWeights
from pipeline.targets import TargetProblem

log = logging.getLogger(__name__)


@dataclass
class TrainingResult:
    model: keras.Model  # holds the primary network: the one initialised from the seed itself
    records: list[TrainingRecord]  # one per initialisation, the primary first

    @property
    def record(self) -> TrainingRecord:
        return self.records[0]


def _progress_bar(epochs: int) -> tqdm:
    """Epoch, loss and time left on a terminal, at most four updates a second; nothing when stderr is not
    a terminal (logs, CI, DVC piped), where one line at the end says how training went."""
    return tqdm(total=epochs, desc="training", unit="epoch", mininterval=0.25, disable=None, file=sys.stderr)


class _KerasProgress(keras.callbacks.Callback):
    def __init__(self, bar: tqdm):
        super().__init__()
        self.bar = bar

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.bar.set_postfix(loss=(logs or {}).get("loss", math.nan), refresh=False)
        self.bar.update()


def _fit_keras(model: keras.Model, z: np.ndarray, y: np.ndarray, epochs: int, batch_size: int, lr: float) -> list[float]:
    """The post's call: model.fit with SGD on MSE, shuffling every epoch; stops at a NaN loss."""
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=lr), loss="mse")
    with _progress_bar(epochs) as bar:
        history = model.fit(
            z,
            y,
            epochs=epochs,
            batch_size=batch_size,
            shuffle=True,
            verbose=0,
            callbacks=[keras.callbacks.TerminateOnNaN(), _KerasProgress(bar)],
        )
    return [float(v) for v in history.history["loss"]]


def _fit_compiled(
    model: keras.Model,
    initials: list[NetworkWeights],
    z: np.ndarray,
    y: np.ndarray,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
) -> tuple[list[NetworkWeights], list[list[float]]]:
    """The same SGD in one XLA graph an epoch, every initialisation at once; the primary network's result
    is written back into the Keras model. Stops when the primary's loss stops being finite."""
    weights, losses = initials, [[] for _ in initials]
    epochs_run = sgd_epochs(initials, z, y, shuffled_orders(len(z), epochs, seed), batch_size, lr)
    with _progress_bar(epochs) as bar:
        for weights, epoch_losses in epochs_run:
            for history, loss in zip(losses, epoch_losses):
                history.append(float(loss))
            bar.set_postfix(loss=losses[0][-1], refresh=False)
            bar.update()
            if not math.isfinite(losses[0][-1]):
                break
    set_network_weights(model, weights[0])
    return weights, losses


def train_network(
    z_train: np.ndarray,
    y_train: np.ndarray,
    seed: int,
    epochs: int,
    batch_size: int,
    lr: float,
    engine: Engine,
    inits: int = 1,
) -> TrainingResult:
    """SGD(lr) on MSE, `epochs` passes of shuffled batches of `batch_size`, from the seed's initialisation
    and, with `inits` > 1 (compiled engine), from those of seeds seed+1, seed+2, ... alongside it."""
    x_size = z_train.shape[1]
    initials = [network_weights(build_network(x_size, seed + k)) for k in range(1, inits)]
    model = build_network(x_size, seed)  # built last: Keras's global seed is then the primary's, as with inits=1
    initials.insert(0, network_weights(model))
    log.info("training %d epochs on %d rows (%s engine, %d initialisations)", epochs, len(z_train), engine.value, inits)
    start = time.monotonic()
    if engine is Engine.keras:
        learned, losses = None, [_fit_keras(model, z_train, y_train, epochs, batch_size, lr)]
    else:
        learned, losses = _fit_compiled(model, initials, z_train, y_train, epochs, batch_size, lr, seed)
    seconds = time.monotonic() - start
    log.info("trained %d epochs in %.1f s, final loss %.3g", len(losses[0]), seconds, losses[0][-1])
    if not all(math.isfinite(v) for v in losses[0]):
        raise TrainingDiverged(
            f"training loss became {losses[0][-1]} at epoch {len(losses[0])}: lower train.lr (was {lr})", losses[0]
        )
    learned = learned or [network_weights(model)]
    if not learned[0].finite():  # each epoch's loss is taken before its updates: the last one is unchecked
        raise TrainingDiverged(
            f"training weights became NaN or infinite in epoch {len(losses[0])}: lower train.lr (was {lr})", losses[0]
        )
    records = [TrainingRecord(i, w, h, seconds) for i, w, h in zip(initials, learned, losses)]
    return TrainingResult(model, records)


def save_model(result: TrainingResult, model_dir: Path) -> Path:
    """The .keras model and its training record; returns the model's path."""
    model_file = Path(model_dir) / MODEL_FILE
    with atomic_path(model_file) as tmp:
        result.model.save(tmp)
    save_record(result.record, model_dir)
    if len(result.records) > 1:
        save_inits(result.records, model_dir)
    return model_file


def train_target(run: RunConfig, problem: TargetProblem, model_dir: Path) -> tuple[Path, list[TrainingRecord]]:
    """Train with the run's settings, save the model and its records beside it; returns both."""
    result = train_network(
        problem.z_train,
        problem.y_train,
        run.model.seed,
        run.train.epochs,
        run.train.batch_size,
        run.train.lr,
        run.train.engine,
        run.train.inits,
    )
    return save_model(result, model_dir), result.records
