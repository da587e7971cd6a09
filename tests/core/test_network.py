"""The post's network in Keras: seeded, two dense layers, and the same function as its weights in NumPy."""

from __future__ import annotations

import keras
import numpy as np

from pipeline.core.network import build_network, network_weights
from pipeline.core.weights import forward


def test_same_seed_gives_the_same_initial_weights_and_another_seed_others():
    first = network_weights(build_network(5, seed=42))
    second = network_weights(build_network(5, seed=42))
    other = network_weights(build_network(5, seed=43))

    np.testing.assert_array_equal(first.W1, second.W1)
    assert (first.b1, first.w2, first.b2) == (second.b1, second.w2, second.b2)
    assert not np.array_equal(first.W1, other.W1)


def test_network_is_the_posts_two_dense_layers_with_seven_parameters():
    model = build_network(5, seed=0)

    assert [type(layer).__name__ for layer in model.layers] == ["Dense", "Dense"]
    assert model.layers[0].activation is keras.activations.relu
    assert model.count_params() == 5 + 1 + 1 + 1


def test_numpy_forward_from_the_weights_equals_keras_predict():
    model = build_network(5, seed=3)
    hidden, _, out, _ = model.get_weights()
    model.set_weights([hidden, np.array([0.7], "float32"), out, np.array([-0.2], "float32")])
    z = np.random.default_rng(0).normal(size=(200, 5))

    predicted = model.predict(z, verbose=0).reshape(-1)

    np.testing.assert_allclose(forward(network_weights(model), z), predicted, rtol=1e-5, atol=1e-5)
