"""The family's network in Keras, its seeded initialisation, and its weights in the post's names."""

from __future__ import annotations

import keras
import numpy as np

from pipeline.config import Activation, ModelConfig
from pipeline.core.weights import NetworkWeights


def _hidden_layers(model: ModelConfig) -> list[keras.layers.Layer]:
    """The hidden Dense layer and its activation. The ReLU stays the post's own `Dense(1, activation="relu")`;
    the leaky ReLU is a layer of its own because a Dense activation cannot carry its slope into a .keras file."""
    if model.activation is Activation.relu:
        return [keras.layers.Dense(model.width, activation="relu")]
    if model.activation is Activation.leaky_relu:
        return [keras.layers.Dense(model.width), keras.layers.LeakyReLU(negative_slope=model.negative_slope)]
    return [keras.layers.Dense(model.width)]


def build_network(x_size: int, model: ModelConfig, seed: int) -> keras.Sequential:
    """Input(x_size) -> Dense(model.width, model.activation) -> Dense(1), Keras's default initialisers, seeded.

    The same (x_size, width, seed) gives the same initial weights whatever the activation: every target starts
    from one initialisation, as the post does with save_weights/load_weights. `seed` is not model.seed alone
    because several initialisations train at once (model.seed, model.seed+1, ...). The batch orders come from
    `engines.batch_orders`.
    """
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.layers.Input(shape=(x_size,)), *_hidden_layers(model), keras.layers.Dense(1)])


def _dense_layers(network: keras.Model) -> tuple[keras.layers.Dense, keras.layers.Dense]:
    hidden, output = (layer for layer in network.layers if isinstance(layer, keras.layers.Dense))
    return hidden, output


def network_weights(network: keras.Model) -> NetworkWeights:
    hidden, output = _dense_layers(network)
    hidden_kernel, hidden_bias = hidden.get_weights()
    output_kernel, output_bias = output.get_weights()
    return NetworkWeights(W1=hidden_kernel, b1=hidden_bias, w2=output_kernel[:, 0], b2=float(output_bias[0]))


def set_network_weights(network: keras.Model, weights: NetworkWeights) -> None:
    hidden, output = _dense_layers(network)
    hidden.set_weights([np.asarray(weights.W1, np.float32), np.asarray(weights.b1, np.float32)])
    output.set_weights([np.asarray(weights.w2, np.float32).reshape(-1, 1), np.array([weights.b2], np.float32)])
