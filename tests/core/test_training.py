"""Training: either engine learns the post's sum, deterministically, from the seed's initialisation (and
the next seeds' alongside it), shows each epoch's loss as it comes, and stops at a divergence."""

from __future__ import annotations

import io
import math
import sys

import numpy as np
import pytest

from pipeline.config import Engine, ModelConfig
from pipeline.core.evaluation import evaluate_network
from pipeline.core.training import train_network
from pipeline.errors import TrainingDiverged
from tests.helpers import sum_problem, train_config

ENGINES = pytest.mark.parametrize("engine", list(Engine), ids=lambda engine: engine.value)


def train(problem, seed: int, epochs: int, batch_size: int, lr: float, engine: Engine, inits: int = 1, watch=None):
    """train_network with the model seed and the training settings spelled out."""
    settings = train_config(epochs=epochs, batch_size=batch_size, lr=lr, engine=engine, inits=inits)
    return train_network(problem, ModelConfig(seed=seed), settings, watch=watch)


@pytest.mark.slow
@ENGINES
def test_training_recovers_the_sum_relations_at_a_reduced_budget(engine):
    """7,500 SGD steps at a higher lr instead of the post's 782,000: the network still learns x1+...+x5."""
    problem = sum_problem(n_train=2000)

    result = train(problem, seed=42, epochs=60, batch_size=16, lr=0.02, engine=engine)
    evaluation = evaluate_network(result.record.learned, problem, atol=1e-3)

    assert result.record.loss_history[-1] < result.record.loss_history[0] / 100
    assert evaluation.relations_hold, (evaluation.m_residual, evaluation.c_residual)
    assert evaluation.test_mse < 1e-5
    assert evaluation.relu_active_fraction > 0.99
    # the post prints its recovered sum with a rounded intercept of -0.0; either sign of zero is exact here
    assert evaluation.recovered_formula.removesuffix("-0.0").removesuffix("0.0") == (
        "f(X) = 1.0*x1 + 1.0*x2 + 1.0*x3 + 1.0*x4 + 1.0*x5 + "
    )


@ENGINES
def test_training_keeps_the_initial_weights_and_one_loss_per_epoch(engine):
    problem = sum_problem(n_train=128)

    result = train(problem, seed=5, epochs=3, batch_size=32, lr=0.003, engine=engine)

    assert len(result.record.loss_history) == 3
    assert not np.array_equal(result.record.initial.W1, result.record.learned.W1)
    np.testing.assert_array_equal(result.record.initial.W1, train(problem, 5, 1, 32, 0.003, engine).record.initial.W1)


@ENGINES
def test_same_seed_trains_to_bit_identical_weights(engine):
    problem = sum_problem(n_train=256)

    first = train(problem, seed=9, epochs=2, batch_size=32, lr=0.01, engine=engine)
    second = train(problem, seed=9, epochs=2, batch_size=32, lr=0.01, engine=engine)

    np.testing.assert_array_equal(first.record.learned.W1, second.record.learned.W1)
    assert first.record.loss_history == second.record.loss_history


@ENGINES
def test_exploding_learning_rate_stops_with_a_divergence_error(engine):
    problem = sum_problem(n_train=256)

    with pytest.raises(TrainingDiverged, match=r"lower train\.lr"):
        train(problem, seed=1, epochs=50, batch_size=32, lr=50.0, engine=engine)


@ENGINES
def test_watch_sees_each_epochs_loss_as_it_comes(engine):
    seen: list[tuple[int, float]] = []

    result = train(sum_problem(n_train=128), 5, 3, 32, 0.003, engine, watch=lambda epoch, loss: seen.append((epoch, loss)))

    assert seen == list(enumerate(result.record.loss_history, start=1))


def test_watch_sees_the_primarys_loss_only_when_several_initialisations_train():
    seen: list[tuple[int, float]] = []

    result = train(sum_problem(n_train=128), 5, 3, 32, 0.003, Engine.compiled, inits=3, watch=lambda *epoch: seen.append(epoch))

    assert seen == list(enumerate(result.records[0].loss_history, start=1))


def test_watch_sees_the_epoch_that_diverged_before_the_training_stops():
    seen: list[tuple[int, float]] = []

    with pytest.raises(TrainingDiverged) as error:
        train(sum_problem(n_train=256), 1, 50, 32, 50.0, Engine.compiled, watch=lambda *epoch: seen.append(epoch))

    assert [epoch for epoch, _ in seen] == list(range(1, error.value.epoch + 1))
    assert not math.isfinite(seen[-1][1])


def test_several_initialisations_train_alongside_the_primary_which_stays_as_with_one():
    problem = sum_problem(n_train=256)

    alone = train(problem, 4, 3, 32, 0.01, Engine.compiled)
    together = train(problem, 4, 3, 32, 0.01, Engine.compiled, inits=3)
    seed_5 = train(problem, 5, 1, 32, 0.01, Engine.compiled)

    assert len(together.records) == 3
    np.testing.assert_array_equal(together.record.initial.W1, alone.record.initial.W1)
    np.testing.assert_allclose(together.record.learned.W1, alone.record.learned.W1, rtol=1e-5)
    np.testing.assert_array_equal(together.records[1].initial.W1, seed_5.record.initial.W1)
    np.testing.assert_array_equal(together.model.get_weights()[0].reshape(-1), together.record.learned.W1.astype("float32"))


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@ENGINES
def test_progress_shows_epoch_and_loss_on_a_terminal_only(engine, monkeypatch):
    problem = sum_problem(n_train=128)
    terminal, pipe = _Terminal(), io.StringIO()

    monkeypatch.setattr(sys, "stderr", terminal)
    train(problem, seed=3, epochs=4, batch_size=32, lr=0.003, engine=engine)
    monkeypatch.setattr(sys, "stderr", pipe)
    train(problem, seed=3, epochs=4, batch_size=32, lr=0.003, engine=engine)

    assert "4/4" in terminal.getvalue() and "loss=" in terminal.getvalue()
    assert pipe.getvalue() == ""
