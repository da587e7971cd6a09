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
INITS_FILE = "inits.json"  # with train.inits > 1: every initialisation's record, the primary first


@dataclass(frozen=True)
class TrainingRecord:
    initial: NetworkWeights
    learned: NetworkWeights
    loss_history: list[float]  # the mean training loss of each epoch, as model.fit reports it
    seconds: float


def _record_dict(record: TrainingRecord) -> dict:
    return {"initial": record.initial.to_dict(), "learned": record.learned.to_dict(), "loss": record.loss_history}


def _record_from(payload: dict, seconds: float) -> TrainingRecord:
    return TrainingRecord(
        initial=NetworkWeights.from_dict(payload["initial"]),
        learned=NetworkWeights.from_dict(payload["learned"]),
        loss_history=[float(v) for v in payload["loss"]],
        seconds=seconds,
    )


def save_record(record: TrainingRecord, model_dir: Path) -> None:
    write_json(Path(model_dir) / WEIGHTS_FILE, {"initial": record.initial.to_dict(), "learned": record.learned.to_dict()})
    write_json(Path(model_dir) / HISTORY_FILE, {"loss": record.loss_history, "seconds": record.seconds})


def load_record(model_dir: Path) -> TrainingRecord:
    weights = read_json(Path(model_dir) / WEIGHTS_FILE)
    history = read_json(Path(model_dir) / HISTORY_FILE)
    return _record_from({**weights, "loss": history["loss"]}, float(history["seconds"]))


def save_inits(records: list[TrainingRecord], model_dir: Path) -> None:
    write_json(Path(model_dir) / INITS_FILE, {"seconds": records[0].seconds, "inits": [_record_dict(r) for r in records]})


def load_records(model_dir: Path) -> list[TrainingRecord]:
    """Every initialisation's record, the primary first: just the primary when only one was trained."""
    inits_file = Path(model_dir) / INITS_FILE
    if not inits_file.is_file():
        return [load_record(model_dir)]
    payload = read_json(inits_file)
    return [_record_from(entry, float(payload["seconds"])) for entry in payload["inits"]]
