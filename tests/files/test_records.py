"""What a training leaves in its model directory, exactly; and the loss data `dvc plots` draws."""

from __future__ import annotations

import keras
import numpy as np

from pipeline.config import Engine
from pipeline.core.training import train_network
from pipeline.core.weights import NetworkWeights, TrainingRecord, WeightStack
from pipeline.files.atomic import read_json
from pipeline.files.records import loss_csv, loss_from_csv, save_record, save_training
from tests.helpers import model_config, sum_problem, train_config


def test_a_training_record_is_written_exactly(tmp_path):
    initial = NetworkWeights(W1=np.array([0.1, -0.2]), b1=0.0, w2=1.5, b2=0.0)
    learned = NetworkWeights(W1=np.array([1 / 3, 0.25]), b1=3.1, w2=2.9, b2=-8.8)
    record = TrainingRecord(initial, WeightStack.of([initial, initial, learned]), loss_history=[1.5, 0.25, 1e-9], seconds=12.5)

    save_record(record, tmp_path)

    weights = read_json(tmp_path / "weights.json")
    assert weights == record.weights_dict()
    assert read_json(tmp_path / "history.json") == {"loss": [1.5, 0.25, 1e-9], "seconds": 12.5}


def test_saved_model_loads_safely_and_holds_the_learned_weights(tmp_path):
    problem = sum_problem(n_train=128)
    result = train_network(problem, model_config(seed=2), train_config(epochs=1, batch_size=32, lr=0.003, engine=Engine.compiled))

    model_file = save_training(result, tmp_path)
    reloaded = keras.models.load_model(model_file, safe_mode=True)
    learned = NetworkWeights.from_dict(read_json(tmp_path / "weights.json")["learned"])

    np.testing.assert_array_equal(reloaded.get_weights()[0], learned.W1.astype("float32"))
    np.testing.assert_array_equal(learned.W1, result.record.learned.W1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.json", "model.keras", "weights.json"]


def test_saved_initialisations_are_written_primary_first(tmp_path):
    problem = sum_problem(n_train=128)
    result = train_network(problem, model_config(seed=2), train_config(epochs=1, batch_size=32, lr=0.003, inits=2))

    save_training(result, tmp_path)
    inits = read_json(tmp_path / "inits.json")["inits"]

    assert [{k: v for k, v in entry.items() if k != "loss"} for entry in inits] == [r.weights_dict() for r in result.records]
    assert [entry["loss"] for entry in inits] == [r.loss_history for r in result.records]


def test_loss_history_survives_the_csv_that_dvc_plots_reads():
    history = [1.5, 0.25, 1.0000000000000002e-05]

    assert loss_from_csv(loss_csv(history)) == history


def test_loss_csv_keeps_its_header_and_unix_line_endings_so_its_dvc_hash_moves_only_with_the_data():
    assert loss_csv([1.5, 0.25]) == "epoch,loss\n1,1.5\n2,0.25\n"
