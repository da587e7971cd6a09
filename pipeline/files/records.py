"""What a training leaves: in its model directory the .keras model, both weight sets and the loss history
(JSON, readable without TensorFlow); and the loss curve's data for `dvc plots`."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.core.weights import TrainingRecord
from pipeline.files.atomic import atomic_path, write_json
from pipeline.files.layout import FIGURES, FIGURES_DIR, HISTORY_FILE, INITS_FILE, MODEL_FILE, REPLICATES_FILE, WEIGHTS_FILE

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from pipeline.core.training import TrainingResult


def _record_dict(record: TrainingRecord) -> dict[str, Any]:
    return {**record.weights_dict(), "loss": record.loss_history}


def save_record(record: TrainingRecord, model_dir: Path) -> None:
    write_json(Path(model_dir) / WEIGHTS_FILE, record.weights_dict())
    write_json(Path(model_dir) / HISTORY_FILE, {"loss": record.loss_history, "seconds": record.seconds})


def save_networks(records: list[TrainingRecord], model_dir: Path, *, replicates: bool) -> None:
    """Every initialisation's (or replicate's) weights and loss, the primary first."""
    file, key = (REPLICATES_FILE, "replicates") if replicates else (INITS_FILE, "inits")
    write_json(Path(model_dir) / file, {"seconds": records[0].seconds, key: [_record_dict(r) for r in records]})


def save_figures(figures: Mapping[str, Figure], model_dir: Path) -> None:
    """The pictures of how the network computes, as PNG files beside it (the report embeds them)."""
    for name, figure in figures.items():
        with atomic_path(Path(model_dir) / FIGURES_DIR / name) as tmp:
            figure.savefig(tmp, format="png")


def save_training(result: TrainingResult, model_dir: Path) -> Path:
    """The .keras model and its training records; returns the model's path."""
    model_file = Path(model_dir) / MODEL_FILE
    with atomic_path(model_file) as tmp:
        result.model.save(tmp)
    save_record(result.record, model_dir)
    if len(result.records) > 1:
        save_networks(result.records, model_dir, replicates=result.own_batches)
    return model_file


def read_figures(model_dir: Path) -> dict[str, bytes]:
    """The PNG files `save_figures` wrote, by name, in FIGURES' order."""
    folder = Path(model_dir) / FIGURES_DIR
    return {name: (folder / name).read_bytes() for name in FIGURES if (folder / name).is_file()}


def loss_csv(loss_history: Sequence[float]) -> str:
    """epoch,loss rows: what `dvc plots` draws. The csv module writes a float's repr, so `loss_from_csv` reads
    back the same numbers; Unix line endings, not its default CRLF, keep the file (and its DVC hash) as before."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(("epoch", "loss"))
    writer.writerows(enumerate(loss_history, start=1))
    return text.getvalue()


def loss_from_csv(text: str) -> list[float]:
    """The loss history back from `loss_csv`'s text."""
    return [float(row["loss"]) for row in csv.DictReader(io.StringIO(text))]
