"""What a training run leaves next to its model, readable without TensorFlow: both weight sets and the
loss history. The DVC evaluate stage and the tracking module read it from here."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.files import read_json, write_json
from pipeline.relations import NetworkWeights

MODEL_FILE = "model.keras"
WEIGHTS_FILE = "weights.json"  # {"initial": ..., "learned": ...}
HISTORY_FILE = "history.json"  # {"loss": [per epoch], "seconds": wall time of the fit}


@dataclass(frozen=True)
class TrainingRecord:
    initial: NetworkWeights
    learned: NetworkWeights
    loss_history: list[float]  # the mean training loss of each epoch, as model.fit reports it
    seconds: float


def save_record(record: TrainingRecord, model_dir: Path) -> None:
    write_json(Path(model_dir) / WEIGHTS_FILE, {"initial": record.initial.to_dict(), "learned": record.learned.to_dict()})
    write_json(Path(model_dir) / HISTORY_FILE, {"loss": record.loss_history, "seconds": record.seconds})


def load_record(model_dir: Path) -> TrainingRecord:
    weights = read_json(Path(model_dir) / WEIGHTS_FILE)
    history = read_json(Path(model_dir) / HISTORY_FILE)
    return TrainingRecord(
        initial=NetworkWeights.from_dict(weights["initial"]),
        learned=NetworkWeights.from_dict(weights["learned"]),
        loss_history=[float(v) for v in history["loss"]],
        seconds=float(history["seconds"]),
    )
