"""The family's network in Keras, its seeded initialisation, and its weights in the post's names."""

from __future__ import annotations

import keras
import numpy as np

from pipeline.config import Activation, ModelConfig
from pipeline.core.weights import NetworkWeights


def _hidden_layers(model: ModelConfig, dtype: str) -> list[keras.layers.Layer]:
    """The hidden Dense layer and its activation. The ReLU stays the post's own `Dense(1, activation="relu")`;
    the leaky ReLU is a layer of its own because a Dense activation cannot carry its slope into a .keras file."""
    if model.activation is Activation.relu:
        return [keras.layers.Dense(model.width, activation="relu", dtype=dtype)]
    if model.activation is Activation.leaky_relu:
        return [
            keras.layers.Dense(model.width, dtype=dtype),
            keras.layers.LeakyReLU(negative_slope=model.negative_slope, dtype=dtype),
        ]
    return [keras.layers.Dense(model.width, dtype=dtype)]


def build_network(x_size: int, model: ModelConfig, seed: int, dtype: str = "float32") -> keras.Sequential:
    """Input(x_size) -> Dense(model.width, model.activation) -> Dense(1), Keras's default initialisers, seeded.

    The same (x_size, width, seed) gives the same initial weights whatever the activation: every target starts
    from one initialisation, as the post does with save_weights/load_weights. `seed` is not model.seed alone
    because several initialisations train at once (model.seed, model.seed+1, ...). The batch orders come from
    `engines.batch_orders`. `dtype` float64 holds what train.dtype=float64 learned: its initial weights are
    drawn in float32 like every other run's.
    """
    keras.utils.set_random_seed(seed)
    layers = [*_hidden_layers(model, dtype), keras.layers.Dense(1, dtype=dtype)]
    return keras.Sequential([keras.layers.Input(shape=(x_size,), dtype=dtype), *layers])


def _dense_layers(network: keras.Model) -> tuple[keras.layers.Dense, keras.layers.Dense]:
    hidden, output = (layer for layer in network.layers if isinstance(layer, keras.layers.Dense))
    return hidden, output


def network_weights(network: keras.Model) -> NetworkWeights:
    hidden, output = _dense_layers(network)
    hidden_kernel, hidden_bias = hidden.get_weights()
    output_kernel, output_bias = output.get_weights()
    return NetworkWeights(W1=hidden_kernel, b1=hidden_bias, w2=output_kernel[:, 0], b2=float(output_bias[0]))


def set_network_weights(network: keras.Model, weights: NetworkWeights) -> None:
    """The weights into the network, in the network's own precision."""
    hidden, output = _dense_layers(network)
    dtype = np.dtype(hidden.kernel.dtype)
    hidden.set_weights([np.asarray(weights.W1, dtype), np.asarray(weights.b1, dtype)])
    output.set_weights([np.asarray(weights.w2, dtype).reshape(-1, 1), np.array([weights.b2], dtype)])
