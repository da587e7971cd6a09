"""The compiled engine runs the post's algorithm: from the same weights and the same batch order it ends
where model.fit ends."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from pipeline.core.engines import batch_orders, sgd_epochs
from pipeline.core.network import build_network, network_weights
from pipeline.core.weights import NetworkWeights


def as_vector(weights: NetworkWeights) -> np.ndarray:
    return np.append(weights.W1, [weights.b1, weights.w2, weights.b2])


def test_compiled_engine_matches_model_fit_after_three_epochs_on_the_same_batches():
    """10,000 rows in batches of 128: 78 full batches and a final partial one of 16, as fit takes them."""
    rng = np.random.RandomState(0)
    z = rng.normal(0, 1, (10_000, 5))
    y = z @ np.array([1.45, 0.05, -0.84, -0.38, 0.19]) - 0.85
    model = build_network(5, seed=42)
    initial = network_weights(model)
    orders = list(batch_orders(len(z), epochs=3, seed=7))

    model.compile(optimizer=keras.optimizers.SGD(learning_rate=3e-3), loss="mse")
    fit_losses = [model.fit(z[o], y[o], epochs=1, batch_size=128, shuffle=False, verbose=0).history["loss"][0] for o in orders]
    compiled = list(sgd_epochs([initial], z, y, iter(orders), batch_size=128, lr=3e-3))

    fit_weights, compiled_weights = as_vector(network_weights(model)), as_vector(compiled[-1][0][0])
    assert not np.allclose(fit_weights, as_vector(initial), rtol=1e-2)  # it did train
    np.testing.assert_allclose(compiled_weights, fit_weights, rtol=1e-4)
    np.testing.assert_allclose([losses[0] for _, losses in compiled], fit_losses, rtol=1e-4)


def test_every_epoch_visits_every_row_once_in_a_new_order():
    orders = list(batch_orders(1000, epochs=3, seed=1))

    assert all(sorted(order) == list(range(1000)) for order in orders)
    assert not np.array_equal(orders[0], orders[1])
    np.testing.assert_array_equal(orders[2], list(batch_orders(1000, epochs=3, seed=1))[2])


@pytest.mark.parametrize("n_rows, batch_size", [(256, 128), (300, 128), (50, 64)])
def test_one_epoch_equals_plain_numpy_sgd_over_every_batch(n_rows, batch_size):
    """Full batches, a partial last batch, and a single batch larger than the data all take the same steps."""
    rng = np.random.default_rng(3)
    z, y = rng.normal(size=(n_rows, 3)), rng.normal(size=n_rows)
    weights = NetworkWeights(W1=np.array([0.5, -0.3, 0.8]), b1=0.4, w2=1.2, b2=-0.1)
    order = rng.permutation(n_rows)

    [([compiled], _)] = list(sgd_epochs([weights], z, y, iter([order]), batch_size=batch_size, lr=0.01))

    W1, b1, w2, b2 = weights.W1.copy(), weights.b1, weights.w2, weights.b2
    for start in range(0, n_rows, batch_size):
        rows = order[start : start + batch_size]
        hidden = z[rows] @ W1 + b1
        grad_out = 2 * (w2 * np.maximum(hidden, 0) + b2 - y[rows]) / len(rows)
        grad_hidden = grad_out * w2 * (hidden > 0)
        W1, b1, w2, b2 = (
            W1 - 0.01 * z[rows].T @ grad_hidden,
            b1 - 0.01 * grad_hidden.sum(),
            w2 - 0.01 * (grad_out * np.maximum(hidden, 0)).sum(),
            b2 - 0.01 * grad_out.sum(),
        )
    np.testing.assert_allclose(as_vector(compiled), np.append(W1, [b1, w2, b2]), rtol=1e-5, atol=1e-6)


def test_networks_trained_together_end_as_if_each_had_been_trained_alone():
    rng = np.random.default_rng(5)
    z = rng.normal(size=(1000, 5))
    y = z.sum(axis=1)
    initials = [network_weights(build_network(5, seed)) for seed in (1, 2, 3)]
    orders = list(batch_orders(len(z), epochs=4, seed=0))

    *_, (together, together_losses) = sgd_epochs(initials, z, y, iter(orders), batch_size=64, lr=0.01)
    for k, initial in enumerate(initials):
        *_, ([alone], alone_losses) = sgd_epochs([initial], z, y, iter(orders), batch_size=64, lr=0.01)
        np.testing.assert_allclose(as_vector(together[k]), as_vector(alone), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(together_losses[k], alone_losses[0], rtol=1e-5)
