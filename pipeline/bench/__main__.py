"""Benchmark, in one process at params.yaml's sizes (the post's: 100,000 x 5, batch 128): milliseconds per
epoch of the keras engine (the post's model.fit, one call per epoch on our batch orders), of fit with
steps_per_execution, and of the compiled engine, with each one's speed-up over the keras engine; then the
compiled engine with 1, 8 and 64 initialisations at once, and the process's peak memory. Prints tables;
asserts nothing.

`python -m pipeline.bench [--fit-epochs 3] [--compiled-epochs 300]`
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Callable, Iterator

import keras
import numpy as np

from pipeline.config import Dataset, TrainConfig, load_pipeline_config
from pipeline.core.draws import draw_post_stream
from pipeline.core.engines import EpochResult, batch_orders, keras_epochs, sgd_epochs
from pipeline.core.network import build_network, network_weights
from pipeline.files.layout import PARAMS_FILE


def _seconds_per_epoch(epochs: Iterator[EpochResult]) -> tuple[float, float]:
    """(first epoch, tracing or XLA compilation included; each later epoch, the shuffling included)."""
    start = time.perf_counter()
    next(epochs)
    first = time.perf_counter() - start
    start, timed = time.perf_counter(), sum(1 for _ in epochs)
    return first, (time.perf_counter() - start) / timed


def keras_seconds_per_epoch(z: np.ndarray, y: np.ndarray, train: TrainConfig, seed: int, epochs: int) -> float:
    model = build_network(z.shape[1], seed)
    orders = batch_orders(len(z), epochs + 1, seed)
    return _seconds_per_epoch(keras_epochs(model, z, y, orders, batch_size=train.batch_size, lr=train.lr))[1]


def fit_steps_per_execution_seconds(z: np.ndarray, y: np.ndarray, train: TrainConfig, seed: int, epochs: int) -> float:
    """model.fit at its fastest: 782 steps per call into the graph; Keras's own shuffle, for timing only."""
    model = build_network(z.shape[1], seed)
    model.compile(optimizer=keras.optimizers.SGD(train.lr), loss="mse", steps_per_execution=782)
    model.fit(z, y, epochs=1, batch_size=train.batch_size, verbose=0)  # tracing and warm-up, not timed
    start = time.perf_counter()
    model.fit(z, y, epochs=epochs, batch_size=train.batch_size, verbose=0)
    return (time.perf_counter() - start) / epochs


def compiled_seconds_per_epoch(
    z: np.ndarray, y: np.ndarray, train: TrainConfig, seed: int, epochs: int, inits: int = 1
) -> tuple[float, float]:
    initials = [network_weights(build_network(z.shape[1], seed + k)) for k in range(inits)]
    orders = batch_orders(len(z), epochs + 1, seed)
    return _seconds_per_epoch(sgd_epochs(initials, z, y, orders, batch_size=train.batch_size, lr=train.lr))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports kilobytes


def row(name: str, seconds: float, baseline: float) -> str:
    return f"| {name} | {seconds * 1000:.1f} | {baseline / seconds:.0f}x |"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit-epochs", type=int, default=3, help="timed epochs of each model.fit variant")
    parser.add_argument("--compiled-epochs", type=int, default=300, help="timed epochs of the compiled engine")
    args = parser.parse_args(argv)

    pipeline = load_pipeline_config(PARAMS_FILE)
    train, seed = pipeline.train, pipeline.model.seed
    split = draw_post_stream(pipeline.data).splits[Dataset.gaussian]
    z, y = split.x_train, split.x_train.sum(axis=1)
    measured: list[tuple[str, Callable[[], float]]] = [
        ("keras engine (model.fit, the post)", lambda: keras_seconds_per_epoch(z, y, train, seed, args.fit_epochs)),
        ("model.fit, steps_per_execution=782", lambda: fit_steps_per_execution_seconds(z, y, train, seed, args.fit_epochs)),
    ]
    results = [(name, measure()) for name, measure in measured]
    first, compiled = compiled_seconds_per_epoch(z, y, train, seed, args.compiled_epochs)
    results.append(("compiled engine (XLA)", compiled))

    baseline = results[0][1]
    print(f"{len(z):,} rows x {z.shape[1]}, batch {train.batch_size}, measured {time.strftime('%Y-%m-%d %H:%M')}\n")
    print("| engine | ms / epoch | speed-up over the keras engine |")
    print("|---|---|---|")
    for name, seconds in results:
        print(row(name, seconds, baseline))
    print(f"\ncompiled engine: first epoch {first:.2f} s (XLA compilation); 1000 epochs ~ {compiled * 1000:.1f} s")

    print("\n| initialisations trained at once (train.inits) | ms / epoch | 1000 epochs | cost over one |")
    print("|---|---|---|---|")
    for inits in (1, 8, 64):
        _, seconds = compiled_seconds_per_epoch(z, y, train, seed, args.compiled_epochs, inits)
        print(f"| {inits} | {seconds * 1000:.1f} | {seconds * 1000:.1f} s | {seconds / compiled:.2f}x |")
    print(f"\npeak memory of this process: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
