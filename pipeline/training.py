"""Training the network: the post's model.fit (SGD, MSE, reshuffled minibatches), watched for divergence."""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from pipeline.config import RunConfig
from pipeline.errors import PipelineError
from pipeline.files import atomic_path
from pipeline.model import build_network, network_weights
from pipeline.records import MODEL_FILE, TrainingRecord, save_record
from pipeline.targets import TargetProblem

log = logging.getLogger(__name__)


class TrainingDiverged(PipelineError):
    """The loss became NaN or infinite: the weights mean nothing, so the run must not look finished."""


@dataclass
class TrainingResult:
    model: keras.Model
    record: TrainingRecord


class _ProgressLog(keras.callbacks.Callback):
    """About twenty progress lines a run, so a quarter-hour fit is not silent."""

    def __init__(self, epochs: int):
        super().__init__()
        self.epochs = epochs
        self.every = max(1, epochs // 20)
        self.start = time.monotonic()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        done = epoch + 1
        if done % self.every and done != self.epochs:
            return
        elapsed = time.monotonic() - self.start
        left = elapsed / done * (self.epochs - done)
        log.info("epoch %d/%d  loss %.3g  %.0fs left", done, self.epochs, (logs or {}).get("loss", math.nan), left)


def train_network(
    z_train: np.ndarray, y_train: np.ndarray, seed: int, epochs: int, batch_size: int, lr: float
) -> TrainingResult:
    """The post's fit: SGD(lr) on MSE, `epochs` passes of shuffled batches of `batch_size`."""
    model = build_network(z_train.shape[1], seed)
    initial = network_weights(model)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=lr), loss="mse")
    start = time.monotonic()
    history = model.fit(
        z_train,
        y_train,
        epochs=epochs,
        batch_size=batch_size,
        shuffle=True,
        verbose=0,
        callbacks=[keras.callbacks.TerminateOnNaN(), _ProgressLog(epochs)],
    )
    seconds = time.monotonic() - start
    loss_history = [float(v) for v in history.history["loss"]]
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
        problem.z_train, problem.y_train, run.model.seed, run.train.epochs, run.train.batch_size, run.train.lr
    )
    return save_model(result, model_dir), result.record
