"""The compiled engine runs the same training as model.fit: from the same weights and the same batch orders it ends
where fit ends, for every width, activation and optimizer of the family, the optimizer's state carried from one
epoch into the next."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from pipeline.config import Activation, Optimizer, RunConfig
from pipeline.core.engines import EpochResult, batch_orders, compiled_epochs, keras_epochs
from pipeline.core.network import build_network, network_weights
from pipeline.core.weights import NetworkWeights, activate, off_slope

ACTIVATIONS = pytest.mark.parametrize("activation", list(Activation), ids=lambda activation: activation.value)
# Three hidden units on 300 rows in batches of 64 (the last of 44): every kind of batch, in a second.
WIDTH_3_AT_BATCH_64 = ("model.width=3", "train.lr=0.01", "train.batch_size=64")


def as_vector(weights: NetworkWeights) -> np.ndarray:
    return np.concatenate([weights.W1.ravel(), weights.b1, weights.w2, [weights.b2]])


def weighted_sum_rows(n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian inputs and the post's weighted sum of them."""
    z = np.random.RandomState(0).normal(0, 1, (n_rows, 5))
    return z, z @ np.array([1.45, 0.05, -0.84, -0.38, 0.19]) - 0.85


def both_engines(config: RunConfig, z: np.ndarray, y: np.ndarray, orders: list[np.ndarray]):
    """(model.fit's epochs, the compiled engine's epochs, the initial weights), from the model seed's network."""
    network = build_network(z.shape[1], config.model, config.model.seed)
    initial = network_weights(network)
    fitted = list(keras_epochs(network, z, y, iter(orders), batch_size=config.train.batch_size, train=config.train))
    compiled = list(compiled_epochs([initial], z, y, iter(orders), model=config.model, train=config.train))
    return fitted, compiled, initial


def assert_same_epochs(compiled: list[EpochResult], fitted: list[EpochResult]) -> None:
    assert len(compiled) == len(fitted)
    for ([compiled_weights], compiled_loss), ([fitted_weights], fitted_loss) in zip(compiled, fitted, strict=True):
        np.testing.assert_allclose(as_vector(compiled_weights), as_vector(fitted_weights), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(compiled_loss, fitted_loss, rtol=1e-5)


def test_compiled_engine_matches_model_fit_after_three_epochs_on_the_same_batches(run_config):
    """The post's network and SGD; 10,000 rows in batches of 128: 78 full batches and a final partial one of 16,
    as fit takes them."""
    config = run_config("train.optimizer=sgd", "train.lr=0.003", "train.batch_size=128")
    z, y = weighted_sum_rows(10_000)
    model = build_network(5, config.model, seed=42)
    initial = network_weights(model)
    orders = list(batch_orders(len(z), epochs=3, seed=7))

    model.compile(optimizer=keras.optimizers.SGD(learning_rate=3e-3), loss="mse")
    fit_losses = [model.fit(z[o], y[o], epochs=1, batch_size=128, shuffle=False, verbose=0).history["loss"][0] for o in orders]
    compiled = list(compiled_epochs([initial], z, y, iter(orders), model=config.model, train=config.train))

    fit_weights, compiled_weights = as_vector(network_weights(model)), as_vector(compiled[-1][0][0])
    assert not np.allclose(fit_weights, as_vector(initial), rtol=1e-2)  # it did train
    np.testing.assert_allclose(compiled_weights, fit_weights, rtol=1e-4)
    np.testing.assert_allclose([losses[0] for _, losses in compiled], fit_losses, rtol=1e-4)


# Each activation and each optimizer once in the fast subset; the other six pairs with the slow tests.
EVERY_PAIR = pytest.mark.parametrize(
    "activation, optimizer",
    [
        pytest.param(
            a,
            o,
            id=f"{a.value}-{o.value}",
            marks=() if list(Activation).index(a) == list(Optimizer).index(o) else pytest.mark.slow,
        )
        for a in Activation
        for o in Optimizer
    ],
)


@EVERY_PAIR
def test_compiled_engine_matches_model_fit_epoch_by_epoch_at_width_3(run_config, activation, optimizer):
    """Three epochs: each epoch's weights and loss are fit's, so the optimizer's arithmetic, and its state from one
    epoch to the next, are Keras's."""
    config = run_config(*WIDTH_3_AT_BATCH_64, f"model.activation={activation.value}", f"train.optimizer={optimizer.value}")
    z, y = weighted_sum_rows(300)

    fitted, compiled, initial = both_engines(config, z, y, list(batch_orders(len(z), epochs=3, seed=1)))

    assert np.max(np.abs(as_vector(fitted[-1][0][0]) - as_vector(initial))) > 0.1  # it did train
    assert_same_epochs(compiled, fitted)


@pytest.mark.parametrize(
    "optimizer", [pytest.param(Optimizer.momentum, marks=pytest.mark.slow), Optimizer.adam], ids=lambda o: o.value
)
def test_optimizer_state_carries_from_one_epoch_into_the_next(run_config, optimizer):
    """Two epochs in one call end where fit's two epochs end; the second epoch begun afresh from the first's
    weights, its momentum or moments and step count forgotten, ends elsewhere."""
    config = run_config(*WIDTH_3_AT_BATCH_64, "model.activation=leaky_relu", f"train.optimizer={optimizer.value}")
    z, y = weighted_sum_rows(300)
    orders = list(batch_orders(len(z), epochs=2, seed=1))

    fitted, compiled, _ = both_engines(config, z, y, orders)
    [([restarted], _)] = compiled_epochs(compiled[0][0], z, y, iter(orders[1:]), model=config.model, train=config.train)

    assert_same_epochs(compiled, fitted)
    assert np.max(np.abs(as_vector(restarted) - as_vector(fitted[1][0][0]))) > 1e-3


def test_every_epoch_visits_every_row_once_in_a_new_order():
    orders = list(batch_orders(1000, epochs=3, seed=1))

    assert all(sorted(order) == list(range(1000)) for order in orders)
    assert not np.array_equal(orders[0], orders[1])
    np.testing.assert_array_equal(orders[2], list(batch_orders(1000, epochs=3, seed=1))[2])


@ACTIVATIONS
@pytest.mark.parametrize("n_rows, batch_size", [(256, 128), (300, 128), (50, 64)])
def test_one_epoch_equals_plain_numpy_sgd_over_every_batch(run_config, activation, n_rows, batch_size):
    """Full batches, a partial last batch, and a single batch larger than the data all take the same steps, for
    two hidden units of each activation."""
    config = run_config(
        "model.width=2", f"model.activation={activation.value}", "train.lr=0.01", f"train.batch_size={batch_size}"
    )
    rng = np.random.default_rng(3)
    z, y = rng.normal(size=(n_rows, 3)), rng.normal(size=n_rows)
    weights = NetworkWeights(W1=np.array([[0.5, -0.2], [-0.3, 0.6], [0.8, 0.1]]), b1=[0.4, -0.1], w2=[1.2, -0.7], b2=-0.1)
    order = rng.permutation(n_rows)

    [([compiled], _)] = list(compiled_epochs([weights], z, y, iter([order]), model=config.model, train=config.train))

    slope = off_slope(config.model)
    W1, b1, w2, b2 = weights.W1, weights.b1, weights.w2, weights.b2
    for start in range(0, n_rows, batch_size):
        rows = order[start : start + batch_size]
        hidden = z[rows] @ W1 + b1
        grad_out = 2 * (activate(hidden, slope) @ w2 + b2 - y[rows]) / len(rows)
        grad_hidden = grad_out[:, None] * w2 * np.where(hidden > 0, 1.0, slope)
        W1, b1, w2, b2 = (
            W1 - 0.01 * z[rows].T @ grad_hidden,
            b1 - 0.01 * grad_hidden.sum(axis=0),
            w2 - 0.01 * activate(hidden, slope).T @ grad_out,
            b2 - 0.01 * grad_out.sum(),
        )
    np.testing.assert_allclose(as_vector(compiled), np.concatenate([W1.ravel(), b1, w2, [b2]]), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_networks_trained_together_end_as_if_each_had_been_trained_alone(run_config):
    """Two networks of three units side by side, with Adam's per-parameter state: nothing of one reaches the other."""
    config = run_config(*WIDTH_3_AT_BATCH_64, "model.activation=leaky_relu", "train.optimizer=adam")
    z, y = weighted_sum_rows(300)
    initials = [network_weights(build_network(5, config.model, seed)) for seed in (1, 2)]
    orders = list(batch_orders(len(z), epochs=2, seed=0))

    *_, (together, together_losses) = compiled_epochs(initials, z, y, iter(orders), model=config.model, train=config.train)
    for k, initial in enumerate(initials):
        *_, ([alone], alone_losses) = compiled_epochs([initial], z, y, iter(orders), model=config.model, train=config.train)
        np.testing.assert_allclose(as_vector(together[k]), as_vector(alone), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(together_losses[k], alone_losses[0], rtol=1e-5)


def test_compiled_engine_refuses_initial_weights_of_another_width(run_config):
    config = run_config("model.width=2")
    initial = network_weights(build_network(5, run_config().model, seed=0))

    with pytest.raises(ValueError, match=r"model\.width=2"):
        next(compiled_epochs([initial], *weighted_sum_rows(64), iter([np.arange(64)]), model=config.model, train=config.train))
