"""How much memory a run needs, from its configuration alone: so a run that cannot fit is refused in one line
before any work, instead of growing for minutes and dying, or failing with an error that blames something else.

An estimate of the largest terms, each named for the settings that drive it: the drawn data, the engine's
copy of the training rows and its per-step arrays, the weights every epoch keeps, and the evaluation's
arrays, plus what the loaded libraries take. Measured on 2026-11-30 (peak RSS, `/usr/bin/time -v python -m
pipeline.run ...`): the defaults 1.07 GB (estimate 1.1), `data.x_size=500 train.epochs=5` 2.75 GB
(estimate 3.1); tests/core/test_footprint.py keeps the estimate above both.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.config import Dtype, RunConfig

FLOAT64 = 8
RUNTIME_BYTES = 1100 * 2**20  # a default run peaks at 1.07 GB (/usr/bin/time -v), ~20 MB of it the terms below
DRAWN_COPIES = 4  # the post's stream draws both datasets' splits; the problem keeps its inputs in the target's space
STEP_ARRAYS = 8  # per step, arrays of (batch, networks, width): hidden, activated, derivative, gradients
EVALUATION_ARRAYS = 4  # per row and unit: pre-activations, units on, their packed patterns, the local maps


@dataclass(frozen=True)
class Footprint:
    """The estimate, by part: bytes each, and which settings drive it."""

    parts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.parts.values())

    @property
    def largest(self) -> str:
        return max(self.parts, key=lambda part: self.parts[part])


def run_footprint(run: RunConfig) -> Footprint:
    data, train, width = run.data, run.train, run.model.width
    item = FLOAT64 if train.dtype is Dtype.float64 else 4
    networks = max(train.inits, train.replicates)
    columns = data.x_size + 1  # the inputs and the bias's column of ones
    kept_epochs = train.epochs + min(run.eval.best_of_last, train.epochs) * networks
    return Footprint(
        {
            "the drawn data (data.n_train, data.n_test, data.x_size)": FLOAT64
            * data.x_size
            * (data.n_train + data.n_test)
            * DRAWN_COPIES,
            "the engine's training rows (data.n_train, data.x_size)": item * data.n_train * columns * 2,
            "each step's arrays (train.batch_size, train.inits or train.replicates, model.width)": item
            * train.batch_size
            * networks
            * (width * STEP_ARRAYS + (columns if train.replicates > 1 else 0)),
            "the weights kept per epoch (train.epochs, networks, model.width, data.x_size)": FLOAT64
            * width
            * (data.x_size + 2)
            * kept_epochs,
            "the evaluation's arrays (data.n_train, data.n_test, model.width)": FLOAT64
            * (data.n_train + data.n_test)
            * width
            * EVALUATION_ARRAYS,
            "Python, TensorFlow and MLflow": RUNTIME_BYTES,
        }
    )
