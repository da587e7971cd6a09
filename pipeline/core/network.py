"""The post's network in Keras, its seeded initialisation, and its weights in the post's names."""

from __future__ import annotations

import keras
import numpy as np

from pipeline.core.weights import NetworkWeights


def build_network(x_size: int, seed: int) -> keras.Sequential:
    """Input(x_size) -> Dense(1, relu) -> Dense(1), Keras's default initialisers, seeded.

    The same (x_size, seed) gives the same initial weights: every target starts from one initialisation,
    as the post does with save_weights/load_weights. The batch orders come from `engines.batch_orders`.
    """
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.layers.Input(shape=(x_size,)),
            keras.layers.Dense(1, activation="relu"),
            keras.layers.Dense(1),
        ]
    )


def network_weights(model: keras.Model) -> NetworkWeights:
    hidden_kernel, hidden_bias, output_kernel, output_bias = model.get_weights()
    return NetworkWeights(
        W1=np.asarray(hidden_kernel, dtype=np.float64).reshape(-1),
        b1=float(hidden_bias[0]),
        w2=float(output_kernel[0, 0]),
        b2=float(output_bias[0]),
    )


def set_network_weights(model: keras.Model, weights: NetworkWeights) -> None:
    model.set_weights(
        [
            np.asarray(weights.W1, dtype=np.float32).reshape(-1, 1),
            np.array([weights.b1], dtype=np.float32),
            np.array([[weights.w2]], dtype=np.float32),
            np.array([weights.b2], dtype=np.float32),
        ]
    )
