from __future__ import annotations

import numpy as np

from pipeline.records import TrainingRecord, load_record, save_record
from pipeline.relations import NetworkWeights


def assert_same_record(have: TrainingRecord, want: TrainingRecord) -> None:
    for name in ("initial", "learned"):
        have_weights, want_weights = getattr(have, name), getattr(want, name)
        np.testing.assert_array_equal(have_weights.W1, want_weights.W1)
        assert (have_weights.b1, have_weights.w2, have_weights.b2) == (want_weights.b1, want_weights.w2, want_weights.b2)
    assert have.loss_history == want.loss_history and have.seconds == want.seconds


def test_a_training_record_reads_back_exactly(tmp_path):
    initial = NetworkWeights(W1=np.array([0.1, -0.2]), b1=0.0, w2=1.5, b2=0.0)
    learned = NetworkWeights(W1=np.array([1 / 3, 0.25]), b1=3.1, w2=2.9, b2=-8.8)
    record = TrainingRecord(initial, learned, loss_history=[1.5, 0.25, 1e-9], seconds=12.5)

    save_record(record, tmp_path)

    assert_same_record(load_record(tmp_path), record)
