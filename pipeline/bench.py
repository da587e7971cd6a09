"""Benchmark, in one process at the post's sizes (100,000 x 5, batch 128): milliseconds per epoch of
the post's model.fit, of fit with steps_per_execution, and of the compiled engine, with each one's
speed-up over model.fit; then the compiled engine with 1, 8 and 64 initialisations at once, and the
process's peak memory. Prints tables; asserts nothing.

`python -m pipeline.bench [--fit-epochs 3] [--compiled-epochs 300]`
"""
from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Callable

import keras
import numpy as np

from pipeline.data import Dataset, draw_post_stream
from pipeline.engines import sgd_epochs, shuffled_orders
from pipeline.model import build_network, network_weights

BATCH_SIZE, LR, SEED = 128, 3e-3, 42


def fit_seconds_per_epoch(z: np.ndarray, y: np.ndarray, epochs: int, steps_per_execution: int) -> float:
    model = build_network(z.shape[1], SEED)
    model.compile(optimizer=keras.optimizers.SGD(LR), loss="mse", steps_per_execution=steps_per_execution)
    model.fit(z, y, epochs=1, batch_size=BATCH_SIZE, verbose=0)  # tracing and warm-up, not timed
    start = time.perf_counter()
    model.fit(z, y, epochs=epochs, batch_size=BATCH_SIZE, verbose=0)
    return (time.perf_counter() - start) / epochs


def compiled_seconds_per_epoch(z: np.ndarray, y: np.ndarray, epochs: int, inits: int = 1) -> tuple[float, float]:
    """(first epoch, XLA compilation included; each later epoch, the shuffling included)."""
    initials = [network_weights(build_network(z.shape[1], SEED + k)) for k in range(inits)]
    start = time.perf_counter()
    first = None
    for done, _ in enumerate(sgd_epochs(initials, z, y, shuffled_orders(len(z), epochs + 1, SEED), BATCH_SIZE, LR)):
        if done == 0:
            first = time.perf_counter() - start
            start = time.perf_counter()
    return first, (time.perf_counter() - start) / epochs


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports kilobytes


def row(name: str, seconds: float, baseline: float) -> str:
    return f"| {name} | {seconds * 1000:.1f} | {baseline / seconds:.0f}x |"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit-epochs", type=int, default=3, help="timed epochs of each model.fit variant")
    parser.add_argument("--compiled-epochs", type=int, default=300, help="timed epochs of the compiled engine")
    args = parser.parse_args(argv)

    split = draw_post_stream(42, 5, 100_000, 10_000).splits[Dataset.gaussian]
    z, y = split.x_train, split.x_train.sum(axis=1)
    measured: list[tuple[str, Callable[[], float]]] = [
        ("model.fit (the post)", lambda: fit_seconds_per_epoch(z, y, args.fit_epochs, 1)),
        ("model.fit, steps_per_execution=782", lambda: fit_seconds_per_epoch(z, y, args.fit_epochs, 782)),
    ]
    results = [(name, measure()) for name, measure in measured]
    first, compiled = compiled_seconds_per_epoch(z, y, args.compiled_epochs)
    results.append(("compiled engine (XLA)", compiled))

    baseline = results[0][1]
    print("| engine | ms / epoch | speed-up over model.fit |")
    print("|---|---|---|")
    for name, seconds in results:
        print(row(name, seconds, baseline))
    print(f"\ncompiled engine: first epoch {first:.2f} s (XLA compilation); 1000 epochs ~ {compiled * 1000:.1f} s")

    print("\n| initialisations trained at once (train.inits) | ms / epoch | 1000 epochs | cost over one |")
    print("|---|---|---|---|")
    for inits in (1, 8, 64):
        _, seconds = compiled_seconds_per_epoch(z, y, args.compiled_epochs, inits)
        print(f"| {inits} | {seconds * 1000:.1f} | {seconds * 1000:.1f} s | {seconds / compiled:.2f}x |")
    print(f"\npeak memory of this process: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
