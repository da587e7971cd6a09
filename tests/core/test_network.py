"""The family's network in Keras: seeded, a hidden Dense layer of the configured width and activation, an output
Dense, the same function as its weights in NumPy, and a .keras file that brings it back whole."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from pipeline.config import Activation
from pipeline.core.network import build_network, network_weights, set_network_weights
from pipeline.core.weights import NetworkWeights, forward, off_slope

ACTIVATIONS = pytest.mark.parametrize("activation", list(Activation), ids=lambda activation: activation.value)


def random_weights(x_size: int, width: int, seed: int) -> NetworkWeights:
    """Weights whose units are on for some rows and off for others, so every activation's slope below zero shows."""
    rng = np.random.default_rng(seed)
    return NetworkWeights(W1=rng.normal(size=(x_size, width)), b1=rng.normal(size=width), w2=rng.normal(size=width), b2=0.3)


def test_same_seed_gives_the_same_initial_weights_and_another_seed_others(run_config):
    model = run_config().model

    first = network_weights(build_network(5, model, seed=42))
    second = network_weights(build_network(5, model, seed=42))
    other = network_weights(build_network(5, model, seed=43))

    assert first.to_dict() == second.to_dict()
    assert not np.array_equal(first.W1, other.W1)


def test_default_network_is_the_posts_two_dense_layers_with_seven_parameters(run_config):
    network = build_network(5, run_config().model, seed=0)

    assert [type(layer).__name__ for layer in network.layers] == ["Dense", "Dense"]
    assert network.layers[0].activation is keras.activations.relu
    assert network.count_params() == 5 + 1 + 1 + 1


@pytest.mark.parametrize(
    "activation, layers, hidden_activation",
    [
        (Activation.relu, ["Dense", "Dense"], keras.activations.relu),
        (Activation.leaky_relu, ["Dense", "LeakyReLU", "Dense"], keras.activations.linear),
        (Activation.linear, ["Dense", "Dense"], keras.activations.linear),
    ],
    ids=["relu", "leaky_relu", "linear"],
)
def test_the_hidden_layer_has_the_configured_width_and_activation(run_config, activation, layers, hidden_activation):
    model = run_config("model.width=3", f"model.activation={activation.value}", "model.negative_slope=0.1").model

    network = build_network(5, model, seed=0)

    assert [type(layer).__name__ for layer in network.layers] == layers
    assert network.layers[0].units == 3
    assert network.layers[0].activation is hidden_activation
    assert network.count_params() == 5 * 3 + 3 + 3 + 1
    if activation is Activation.leaky_relu:
        assert network.layers[1].negative_slope == 0.1


def test_every_activation_starts_from_the_same_initial_weights(run_config):
    """The activation has no weights: one seed is one initialisation across the family, as across targets."""
    initials = [
        network_weights(build_network(5, run_config("model.width=3", f"model.activation={a.value}").model, seed=7))
        for a in Activation
    ]

    assert all(initial.to_dict() == initials[0].to_dict() for initial in initials)


@ACTIVATIONS
def test_numpy_forward_from_the_weights_equals_keras_predict(run_config, activation):
    model = run_config("model.width=3", f"model.activation={activation.value}").model
    network = build_network(5, model, seed=3)
    set_network_weights(network, random_weights(5, 3, seed=0))
    z = np.random.default_rng(0).normal(size=(200, 5))

    predicted = network.predict(z, verbose=0).reshape(-1)

    np.testing.assert_allclose(forward(network_weights(network), z, off_slope(model)), predicted, rtol=1e-5, atol=1e-5)


def test_weights_set_into_a_wide_network_read_back_as_float32(run_config):
    network = build_network(5, run_config("model.width=4", "model.activation=leaky_relu").model, seed=0)
    weights = random_weights(5, 4, seed=1)

    set_network_weights(network, weights)
    read = network_weights(network)

    for name in ("W1", "b1", "w2"):
        np.testing.assert_array_equal(getattr(read, name), getattr(weights, name).astype(np.float32))
    assert read.b2 == np.float32(weights.b2)


def test_a_leaky_relu_network_comes_back_from_its_keras_file_with_its_slope_and_weights(run_config, tmp_path):
    model = run_config("model.width=3", "model.activation=leaky_relu", "model.negative_slope=0.1").model
    network = build_network(5, model, seed=2)
    set_network_weights(network, random_weights(5, 3, seed=2))
    z = np.random.default_rng(1).normal(size=(50, 5))

    network.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")

    assert [type(layer).__name__ for layer in loaded.layers] == ["Dense", "LeakyReLU", "Dense"]
    assert loaded.layers[1].negative_slope == pytest.approx(0.1)
    assert network_weights(loaded).to_dict() == network_weights(network).to_dict()
    np.testing.assert_array_equal(loaded.predict(z, verbose=0), network.predict(z, verbose=0))
