"""Training the network: minibatch SGD on MSE, by the post's model.fit or the compiled engine, watched
for divergence."""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from pipeline.config import Engine, RunConfig
from pipeline.errors import PipelineError
from pipeline.files import atomic_path
from pipeline.engines import sgd_epochs, shuffled_orders
from pipeline.model import build_network, network_weights, set_network_weights
from pipeline.records import MODEL_FILE, TrainingRecord, save_record
from pipeline.targets import TargetProblem

log = logging.getLogger(__name__)


class TrainingDiverged(PipelineError):
    """The loss became NaN or infinite: the weights mean nothing, so the run must not look finished."""


@dataclass
class TrainingResult:
    model: keras.Model
    record: TrainingRecord


class _Progress:
    """Progress lines at least 5% of the run and a second apart, plus the last: a quarter-hour fit is
    not silent, and a five-second one does not flood the terminal."""

    def __init__(self, epochs: int):
        self.epochs = epochs
        self.every = max(1, epochs // 20)
        self.start = self.last = time.monotonic()

    def epoch_done(self, done: int, loss: float) -> None:
        now = time.monotonic()
        if done != self.epochs and (done % self.every or now - self.last < 1.0):
            return
        self.last = now
        log.info("epoch %d/%d  loss %.3g  %.0fs left", done, self.epochs, loss, (now - self.start) / done * (self.epochs - done))


class _KerasProgress(keras.callbacks.Callback):
    def __init__(self, progress: _Progress):
        super().__init__()
        self.progress = progress

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.progress.epoch_done(epoch + 1, (logs or {}).get("loss", math.nan))


def _fit_keras(model: keras.Model, z: np.ndarray, y: np.ndarray, epochs: int, batch_size: int, lr: float) -> list[float]:
    """The post's call: model.fit with SGD on MSE, shuffling every epoch; stops at a NaN loss."""
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=lr), loss="mse")
    history = model.fit(
        z,
        y,
        epochs=epochs,
        batch_size=batch_size,
        shuffle=True,
        verbose=0,
        callbacks=[keras.callbacks.TerminateOnNaN(), _KerasProgress(_Progress(epochs))],
    )
    return [float(v) for v in history.history["loss"]]


def _fit_compiled(
    model: keras.Model, z: np.ndarray, y: np.ndarray, epochs: int, batch_size: int, lr: float, seed: int
) -> list[float]:
    """The same SGD in one XLA graph an epoch; the result is written back into the Keras model."""
    progress = _Progress(epochs)
    weights, losses = network_weights(model), []
    for weights, loss in sgd_epochs(weights, z, y, shuffled_orders(len(z), epochs, seed), batch_size, lr):
        losses.append(loss)
        progress.epoch_done(len(losses), loss)
        if not math.isfinite(loss):
            break
    set_network_weights(model, weights)
    return losses


def train_network(
    z_train: np.ndarray, y_train: np.ndarray, seed: int, epochs: int, batch_size: int, lr: float, engine: Engine
) -> TrainingResult:
    """SGD(lr) on MSE, `epochs` passes of shuffled batches of `batch_size`, from the seed's initialisation."""
    model = build_network(z_train.shape[1], seed)
    initial = network_weights(model)
    start = time.monotonic()
    if engine is Engine.keras:
        loss_history = _fit_keras(model, z_train, y_train, epochs, batch_size, lr)
    else:
        loss_history = _fit_compiled(model, z_train, y_train, epochs, batch_size, lr, seed)
    seconds = time.monotonic() - start
    if not all(math.isfinite(v) for v in loss_history):
        raise TrainingDiverged(
            f"training loss became {loss_history[-1]} at epoch {len(loss_history)}: lower train.lr (was {lr})"
        )
    return TrainingResult(model, TrainingRecord(initial, network_weights(model), loss_history, seconds))

def save_model(result: TrainingResult, model_dir: Path) -> Path:
    """The .keras model and its training record; returns the model's path."""
    model_file = Path(model_dir) / MODEL_FILE
    with atomic_path(model_file) as tmp:
        result.model.save(tmp)
    save_record(result.record, model_dir)
    return model_file


def train_target(run: RunConfig, problem: TargetProblem, model_dir: Path) -> tuple[Path, TrainingRecord]:
    """Train with the run's settings, save the model and its record beside it; returns both."""
    result = train_network(
        problem.z_train,
        problem.y_train,
        run.model.seed,
        run.train.epochs,
        run.train.batch_size,
        run.train.lr,
        run.train.engine,
    )
    return save_model(result, model_dir), result.record
