"""Training: either engine trains every member of the family (each width, activation and optimizer) from the seed's
initialisation (and the next seeds' alongside it), deterministically, shows each epoch's loss as it comes, and stops
at a divergence; at the defaults it writes the very weights it wrote before the family existed."""

from __future__ import annotations

import hashlib
import io
import logging
import math
import sys
import threading

import numpy as np
import pytest

from pipeline.config import Activation, Engine, Optimizer, RunConfig
from pipeline.core.draws import draw_post_stream
from pipeline.core.engines import batch_orders
from pipeline.core.evaluation import evaluate_network
from pipeline.core.network import network_weights
from pipeline.core.targets import TargetProblem, target_problem
from pipeline.core.training import TrainingResult, train_network
from pipeline.core.weights import forward
from pipeline.errors import TrainingDiverged
from pipeline.files.layout import WEIGHTS_FILE
from pipeline.files.records import save_record

ENGINES = pytest.mark.parametrize("engine", list(Engine), ids=lambda engine: engine.value)

# sha256 of weights.json after train_network at the full defaults (the post's 100,000 rows, 1,000 epochs, width 1,
# relu, sgd, compiled engine), measured with the engine as it was before the family existed (commit 99dbabf). They
# are also the bytes of models/<target>/weights.json in the DVC baseline.
WEIGHTS_JSON_SHA256_BEFORE_THE_FAMILY = {
    "sum": "bd0a258ecf4f8b87fd5088caaac2925ac8c7fe65b17bdf4d59c64d2938336779",
    "product": "f666b6cd1f4bc634179d235f46b2a0e89842baf6db2f541595500d9fcd4d58b9",
}


def problem_of(config: RunConfig) -> TargetProblem:
    """The config's target on the post's draws, at the config's data sizes."""
    draws = draw_post_stream(config.data)
    return target_problem(config.target, draws.splits[config.target.dataset], draws.coefficients)


def train(config: RunConfig, watch=None) -> TrainingResult:
    return train_network(problem_of(config), config.model, config.train, watch=watch)


def small_run(run_config, *overrides: str) -> RunConfig:
    """The sum target on 128 training rows, 3 epochs in batches of 32 at lr 0.003; later overrides win."""
    return run_config("data.n_train=128", "data.n_test=64", "train.epochs=3", "train.batch_size=32", "train.lr=0.003", *overrides)


def as_vector(result: TrainingResult, which: str = "learned") -> np.ndarray:
    w = getattr(result.record, which)
    return np.concatenate([w.W1.ravel(), w.b1, w.w2, [w.b2]])


@pytest.mark.slow
@ENGINES
def test_training_recovers_the_sum_relations_at_a_reduced_budget(engine, run_config):
    """7,500 SGD steps at a higher lr instead of the post's 782,000: the network still learns x1+...+x5."""
    config = run_config(
        "data.n_train=2000",
        "data.n_test=200",
        f"train.engine={engine.value}",
        "train.epochs=60",
        "train.batch_size=16",
        "train.lr=0.02",
    )
    problem = problem_of(config)

    result = train_network(problem, config.model, config.train)
    evaluation = evaluate_network(result.record.learned, problem, model=config.model, eval_=config.eval)

    assert result.record.loss_history[-1] < result.record.loss_history[0] / 100
    assert evaluation.relations_hold, (evaluation.m_residual, evaluation.c_residual)
    assert evaluation.test_mse < 1e-5
    assert evaluation.relu_active_fraction > 0.99
    # the post prints its recovered sum with a rounded intercept of -0.0; either sign of zero is exact here
    assert evaluation.recovered_formula.removesuffix("-0.0").removesuffix("0.0") == (
        "f(X) = 1.0*x1 + 1.0*x2 + 1.0*x3 + 1.0*x4 + 1.0*x5 + "
    )


@pytest.mark.slow
@pytest.mark.parametrize("target", sorted(WEIGHTS_JSON_SHA256_BEFORE_THE_FAMILY))
def test_default_training_writes_the_same_weights_json_as_before_the_family_existed(target, run_config, tmp_path):
    """The post's run, byte for byte: width 1, relu and sgd take the same float32 steps as the engine before
    widths, activations and optimizers were added (5 to 10 s a target)."""
    config = run_config(f"target={target}")

    save_record(train(config).record, tmp_path)

    digest = hashlib.sha256((tmp_path / WEIGHTS_FILE).read_bytes()).hexdigest()
    assert digest == WEIGHTS_JSON_SHA256_BEFORE_THE_FAMILY[target]


@ENGINES
@pytest.mark.parametrize(
    "activation, optimizer",
    [(Activation.relu, Optimizer.adam), (Activation.leaky_relu, Optimizer.momentum), (Activation.linear, Optimizer.sgd)],
    ids=["relu-adam", "leaky_relu-momentum", "linear-sgd"],
)
def test_each_engine_trains_every_activation_and_optimizer_into_the_model_it_returns(run_config, engine, activation, optimizer):
    config = small_run(
        run_config,
        f"train.engine={engine.value}",
        "model.width=3",
        f"model.activation={activation.value}",
        f"train.optimizer={optimizer.value}",
        "train.lr=0.01",
    )

    result = train(config)

    assert result.record.learned.width == 3
    assert result.record.loss_history[-1] < result.record.loss_history[0]
    saved = network_weights(result.model)
    for name in ("W1", "b1", "w2"):
        np.testing.assert_array_equal(getattr(saved, name), getattr(result.record.learned, name).astype(np.float32))


@pytest.mark.parametrize(
    "activation, optimizer",
    [
        pytest.param(Activation.relu, Optimizer.adam, id="relu-adam", marks=pytest.mark.slow),
        pytest.param(Activation.leaky_relu, Optimizer.momentum, id="leaky_relu-momentum", marks=pytest.mark.slow),
        pytest.param(Activation.linear, Optimizer.sgd, id="linear-sgd"),
    ],
)
def test_both_engines_train_a_wide_network_to_the_same_weights(run_config, activation, optimizer):
    """The model and training configs reach both engines whole: a width, an activation or an optimizer one of them
    ignored would show here."""
    keras_run, compiled_run = (
        small_run(
            run_config,
            f"train.engine={engine}",
            "model.width=3",
            f"model.activation={activation.value}",
            "model.negative_slope=0.1",
            f"train.optimizer={optimizer.value}",
            "train.momentum=0.5",
            "train.lr=0.01",
        )
        for engine in ("keras", "compiled")
    )

    keras_result, compiled_result = train(keras_run), train(compiled_run)

    np.testing.assert_array_equal(as_vector(keras_result, "initial"), as_vector(compiled_result, "initial"))
    np.testing.assert_allclose(as_vector(keras_result), as_vector(compiled_result), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(keras_result.record.loss_history, compiled_result.record.loss_history, rtol=1e-5)


@ENGINES
def test_training_keeps_the_initial_weights_and_one_loss_per_epoch(engine, run_config):
    result = train(small_run(run_config, "model.seed=5", f"train.engine={engine.value}"))
    one_epoch = train(small_run(run_config, "model.seed=5", f"train.engine={engine.value}", "train.epochs=1"))

    assert len(result.record.loss_history) == 3
    assert not np.array_equal(result.record.initial.W1, result.record.learned.W1)
    np.testing.assert_array_equal(result.record.initial.W1, one_epoch.record.initial.W1)


@ENGINES
def test_same_seed_trains_to_bit_identical_weights(engine, run_config):
    config = small_run(
        run_config, "data.n_train=256", "model.seed=9", f"train.engine={engine.value}", "train.epochs=2", "train.lr=0.01"
    )

    first, second = train(config), train(config)

    np.testing.assert_array_equal(first.record.learned.W1, second.record.learned.W1)
    assert first.record.loss_history == second.record.loss_history


@ENGINES
def test_exploding_learning_rate_stops_with_a_divergence_error_naming_what_else_scales_a_step(engine, run_config):
    config = small_run(
        run_config, "data.n_train=256", "model.seed=1", f"train.engine={engine.value}", "train.epochs=50", "train.lr=50"
    )

    with pytest.raises(
        TrainingDiverged,
        match=r": lower train\.lr \(was 50\.0\); each step also grows with the inputs per row \(data\.x_size=5\)",
    ):
        train(config)


@ENGINES
def test_watch_sees_each_epochs_loss_as_it_comes(engine, run_config):
    seen: list[tuple[int, float]] = []

    result = train(small_run(run_config, "model.seed=5", f"train.engine={engine.value}"), watch=lambda *epoch: seen.append(epoch))

    assert seen == list(enumerate(result.record.loss_history, start=1))


def test_watch_sees_the_primarys_loss_only_when_several_initialisations_train(run_config):
    seen: list[tuple[int, float]] = []

    result = train(small_run(run_config, "model.seed=5", "train.inits=3"), watch=lambda *epoch: seen.append(epoch))

    assert seen == list(enumerate(result.records[0].loss_history, start=1))


def test_watch_sees_the_epoch_that_diverged_before_the_training_stops(run_config):
    seen: list[tuple[int, float]] = []
    config = small_run(run_config, "data.n_train=256", "model.seed=1", "train.epochs=50", "train.lr=50")

    with pytest.raises(TrainingDiverged) as error:
        train(config, watch=lambda *epoch: seen.append(epoch))

    assert [epoch for epoch, _ in seen] == list(range(1, error.value.epoch + 1))
    assert not math.isfinite(seen[-1][1])


def test_several_initialisations_train_alongside_the_primary_which_stays_as_with_one(run_config):
    wide = ("model.width=3", "model.activation=leaky_relu", "train.optimizer=adam", "train.lr=0.01")
    alone = train(small_run(run_config, "data.n_train=256", "model.seed=4", *wide))
    together = train(small_run(run_config, "data.n_train=256", "model.seed=4", "train.inits=3", *wide))
    seed_5 = train(small_run(run_config, "data.n_train=256", "model.seed=5", "train.epochs=1", *wide))

    assert len(together.records) == 3
    np.testing.assert_array_equal(together.record.initial.W1, alone.record.initial.W1)
    np.testing.assert_allclose(together.record.learned.W1, alone.record.learned.W1, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(together.records[1].initial.W1, seed_5.record.initial.W1)
    np.testing.assert_array_equal(network_weights(together.model).W1, together.record.learned.W1.astype("float32"))


def test_replicate_0_is_exactly_the_run_without_replicates_and_replicate_k_the_run_at_seed_plus_k(run_config):
    alone = train(small_run(run_config, "data.n_train=256", "model.seed=4"))
    replicated = train(small_run(run_config, "data.n_train=256", "model.seed=4", "train.replicates=3"))
    seed_6 = train(small_run(run_config, "data.n_train=256", "model.seed=6"))

    assert len(replicated.records) == 3 and replicated.own_batches
    np.testing.assert_array_equal(replicated.record.learned.W1, alone.record.learned.W1)
    assert replicated.record.loss_history == alone.record.loss_history
    np.testing.assert_array_equal(replicated.records[2].initial.W1, seed_6.record.initial.W1)
    np.testing.assert_allclose(replicated.records[2].learned.W1, seed_6.record.learned.W1, rtol=1e-5, atol=1e-7)


def test_replicates_take_their_own_batches_where_initialisations_share_the_primarys(run_config):
    """Networks 1 and 2 start from the same weights either way; only their batches differ."""
    replicated = train(small_run(run_config, "data.n_train=256", "model.seed=4", "train.replicates=3"))
    shared = train(small_run(run_config, "data.n_train=256", "model.seed=4", "train.inits=3"))

    for k in (1, 2):
        np.testing.assert_array_equal(replicated.records[k].initial.W1, shared.records[k].initial.W1)
        assert np.abs(replicated.records[k].learned.W1 - shared.records[k].learned.W1).max() > 1e-4
    np.testing.assert_allclose(replicated.record.learned.W1, shared.record.learned.W1, rtol=1e-5, atol=1e-7)


def test_the_primary_keeps_every_epochs_weights_and_the_others_the_last_ones_asked_for(run_config):
    config = small_run(run_config, "train.epochs=4", "train.replicates=3")

    result = train_network(problem_of(config), config.model, config.train, keep_last=2)

    primary, *others = result.records
    assert len(primary.trajectory) == 4 == len(primary.loss_history)
    assert not np.array_equal(primary.trajectory[0].W1, primary.trajectory[3].W1)
    for record in result.records:
        np.testing.assert_array_equal(record.trajectory[len(record.trajectory) - 1].W1, record.learned.W1)
    assert [len(record.trajectory) for record in others] == [2, 2] and all(len(r.loss_history) == 4 for r in others)


def test_wide_replicates_with_adam_on_a_partial_last_batch_are_each_the_run_at_their_seed(run_config):
    wide = ("data.n_train=250", "model.width=6", "train.optimizer=adam", "train.lr=0.01", "model.seed=4")
    replicated = train(small_run(run_config, *wide, "train.replicates=3"))
    seed_6 = train(small_run(run_config, *wide, "model.seed=6"))

    np.testing.assert_allclose(replicated.records[2].learned.W1, seed_6.record.learned.W1, rtol=1e-5, atol=1e-6)


def test_a_diverging_replicated_training_leaves_no_thread_behind(run_config):
    before = threading.active_count()

    with pytest.raises(TrainingDiverged):
        train(small_run(run_config, "model.seed=1", "train.epochs=50", "train.lr=50", "train.replicates=4"))

    assert threading.active_count() == before


def test_a_float64_training_saves_a_float64_model_holding_what_it_learned(run_config):
    config = small_run(run_config, "train.dtype=float64")
    problem = problem_of(config)

    result = train_network(problem, config.model, config.train)

    z = problem.z_test  # called, not `predict`, which hands any model Keras's floatx (float32) inputs
    np.testing.assert_allclose(np.asarray(result.model(z))[:, 0], forward(result.record.learned, z), rtol=1e-13)
    assert network_weights(result.model).W1.dtype == np.float64


def _sgd_in_float64(weights, z, y, orders, *, batch_size, lr):
    """The post's SGD on one ReLU unit, by hand in float64: what train.dtype=float64 must compute."""
    w1, b1, w2, b2 = weights.W1[:, 0].copy(), float(weights.b1[0]), float(weights.w2[0]), weights.b2
    for order in orders:
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            hidden = z[rows] @ w1 + b1
            on = hidden > 0
            grad_out = 2 * (w2 * np.maximum(hidden, 0) + b2 - y[rows]) / len(rows)
            grad_hidden = grad_out * w2 * on
            w1, b1, w2, b2 = (
                w1 - lr * (z[rows].T @ grad_hidden),
                b1 - lr * grad_hidden.sum(),
                w2 - lr * (grad_out * np.maximum(hidden, 0)).sum(),
                b2 - lr * grad_out.sum(),
            )
    return w1


def test_float64_training_is_the_posts_sgd_in_double_precision(run_config):
    config = small_run(run_config, "train.dtype=float64", "train.epochs=2")
    problem = problem_of(config)

    result = train_network(problem, config.model, config.train)

    orders = list(batch_orders(len(problem.z_train), 2, config.model.seed))
    expected = _sgd_in_float64(result.record.initial, problem.z_train, problem.y_train, orders, batch_size=32, lr=0.003)
    np.testing.assert_allclose(result.record.learned.W1[:, 0], expected, rtol=1e-12)
    float32 = train(small_run(run_config, "train.epochs=2"))
    assert np.abs(float32.record.learned.W1[:, 0] - expected).max() > 1e-9  # float32 rounds visibly off it


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@ENGINES
def test_progress_shows_epoch_and_loss_on_a_terminal_only(engine, run_config, monkeypatch):
    config = small_run(run_config, "model.seed=3", f"train.engine={engine.value}", "train.epochs=4")
    terminal, pipe = _Terminal(), io.StringIO()

    monkeypatch.setattr(sys, "stderr", terminal)
    train(config)
    monkeypatch.setattr(sys, "stderr", pipe)
    train(config)

    assert "4/4" in terminal.getvalue() and "loss=" in terminal.getvalue()
    assert pipe.getvalue() == ""


def test_drawing_many_initialisations_is_said_before_it_starts(run_config, caplog):
    """Keras builds every initial network, ~10 ms each: a million take hours, and the log says what is going on."""
    with caplog.at_level(logging.INFO, logger="pipeline.core.training"):
        train(small_run(run_config, "train.inits=3", "train.epochs=1"))

    assert "drawing 3 initialisations with Keras's seeded initialisers" in caplog.text
