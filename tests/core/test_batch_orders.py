"""Both engines take each epoch's batches from one seeded source, so `train.engine` chooses an executor,
never an algorithm. Keras's own randomness is wrapped where the test can see it: left to shuffle under
`keras.utils.set_random_seed`, Keras 3 repeats one order every epoch."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from pipeline.config import Engine, RunConfig
from pipeline.core import training
from pipeline.core.draws import draw_post_stream
from pipeline.core.engines import batch_orders, replicate_orders
from pipeline.core.network import build_network
from pipeline.core.targets import TargetProblem, target_problem
from pipeline.core.training import TrainingResult, train_network


def weighted_sum_problem(config: RunConfig) -> TargetProblem:
    """The post's weighted sum on the first data.n_train rows of its Gaussian stream."""
    draws = draw_post_stream(config.data)
    return target_problem(config.target, draws.splits[config.target.dataset], draws.coefficients)


def weighted_sum_run(run_config, n_train: int, *overrides: str) -> RunConfig:
    return run_config("target=weighted_sum", f"data.n_train={n_train}", "data.n_test=100", "train.lr=0.003", *overrides)


class ShuffleSpy:
    """Counts the calls of `tf.random.shuffle`, which Keras's array adapter shuffles a fit's rows with."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.calls = 0
        original = tf.random.shuffle

        def shuffle(*args, **kwargs):
            self.calls += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(tf.random, "shuffle", shuffle)


class FitSpy:
    """Records the rows every `model.fit` call trains on, as indices into the training rows."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, rows: np.ndarray):
        self.index = {row.tobytes(): i for i, row in enumerate(rows)}
        self.orders: list[np.ndarray] = []
        self.calls: list[dict] = []
        original = keras.Model.fit

        def fit(model, x=None, y=None, **kwargs):
            self.calls.append(kwargs)
            self.orders.append(np.array([self.index[row.tobytes()] for row in np.asarray(x)]))
            return original(model, x, y, **kwargs)

        monkeypatch.setattr(keras.Model, "fit", fit)


def test_the_shuffle_spy_sees_keras_shuffle_its_own_rows(monkeypatch, run_config):
    """The control for the next test: with shuffle=True, Keras draws its order through tf.random.shuffle."""
    spy = ShuffleSpy(monkeypatch)
    model = build_network(5, run_config().model, seed=1)
    model.compile(optimizer="sgd", loss="mse")

    model.fit(np.ones((64, 5)), np.ones(64), epochs=2, batch_size=16, shuffle=True, verbose=0)

    assert spy.calls > 0


def test_keras_engine_trains_every_epoch_on_a_new_order_of_every_row_drawn_from_the_seed(monkeypatch, run_config):
    config = weighted_sum_run(run_config, 300, "model.seed=42", "train.engine=keras", "train.epochs=4", "train.batch_size=128")
    problem = weighted_sum_problem(config)
    fits, shuffles = FitSpy(monkeypatch, problem.z_train), ShuffleSpy(monkeypatch)

    train_network(problem, config.model, config.train)

    assert len(fits.orders) == 4  # one fit per epoch, each on the rows in that epoch's order
    assert all(call["epochs"] == 1 and call["shuffle"] is False for call in fits.calls)
    assert shuffles.calls == 0  # Keras never reorders them
    assert all(sorted(order) == list(range(300)) for order in fits.orders)
    assert len({order.tobytes() for order in fits.orders}) == 4
    assert len({order[0] for order in fits.orders}) > 1  # the first batch changes too


def test_both_engines_take_the_orders_drawn_from_the_model_seed(monkeypatch, run_config):
    problem = weighted_sum_problem(weighted_sum_run(run_config, 300))
    fits = FitSpy(monkeypatch, problem.z_train)
    compiled_orders: list[np.ndarray] = []
    compiled_engine = training.compiled_epochs

    def watched_compiled_epochs(initials, z, y, orders, **kwargs):
        watched = (compiled_orders.append(order) or order for order in orders)
        return compiled_engine(initials, z, y, watched, **kwargs)

    monkeypatch.setattr(training, "compiled_epochs", watched_compiled_epochs)
    for engine in Engine:
        config = weighted_sum_run(run_config, 300, "model.seed=7", f"train.engine={engine.value}", "train.epochs=3")
        train_network(problem, config.model, config.train)

    expected = np.random.default_rng(7)  # pipeline.core.engines.batch_orders, written out
    expected_orders = [expected.permutation(300) for _ in range(3)]
    assert len(fits.orders) == len(compiled_orders) == 3
    for order, compiled_order, want in zip(fits.orders, compiled_orders, expected_orders, strict=True):
        np.testing.assert_array_equal(order, want)
        np.testing.assert_array_equal(compiled_order, want)


@pytest.mark.slow
def test_the_two_engines_learn_the_same_weights_within_1e_4_after_20_epochs_at_batch_128_on_4000_rows(run_config):
    keras_run, compiled_run = (
        weighted_sum_run(run_config, 4000, "model.seed=42", f"train.engine={engine}", "train.epochs=20", "train.batch_size=128")
        for engine in ("keras", "compiled")
    )
    problem = weighted_sum_problem(keras_run)

    keras_result = train_network(problem, keras_run.model, keras_run.train)
    compiled_result = train_network(problem, compiled_run.model, compiled_run.train)

    def vector(result: TrainingResult, which: str = "learned") -> np.ndarray:
        w = getattr(result.record, which)
        return np.concatenate([w.W1.ravel(), w.b1, w.w2, [w.b2]])

    np.testing.assert_array_equal(vector(keras_result, "initial"), vector(compiled_result, "initial"))
    assert np.max(np.abs(vector(keras_result) - vector(keras_result, "initial"))) > 0.1  # it did train
    np.testing.assert_allclose(vector(keras_result), vector(compiled_result), atol=1e-4, rtol=0)
    np.testing.assert_allclose(keras_result.record.loss_history, compiled_result.record.loss_history, rtol=1e-4)


def test_each_replicate_takes_every_epoch_the_order_a_run_at_its_seed_takes():
    seeds = [7, 8, 9]

    drawn = list(replicate_orders(50, 4, seeds))

    assert len(drawn) == 4 and all(orders.shape == (3, 50) for orders in drawn)
    for k, seed in enumerate(seeds):
        for epoch, order in enumerate(batch_orders(50, 4, seed)):
            np.testing.assert_array_equal(drawn[epoch][k], order)
    assert not np.array_equal(drawn[0][0], drawn[1][0])  # a new order every epoch
