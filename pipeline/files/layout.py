"""Every path and file name the stages write and read, defined once. dvc.yaml templates the same paths
from params.yaml's `paths`; a test renders dvc.yaml's outs and holds them against these."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.config import PROJECT_ROOT, Dataset, PathsConfig

PARAMS_FILE = PROJECT_ROOT / "params.yaml"  # conf/pipeline.yaml composed: what `dvc repro` reads
COEFFICIENTS_FILE = "drawn_coefficients.json"
MODEL_FILE = "model.keras"
WEIGHTS_FILE = "weights.json"  # {"initial": ..., "learned": ...}
HISTORY_FILE = "history.json"  # {"loss": [per epoch], "seconds": wall time of the training}
REGIONS_FILE = "regions.json"  # in a run: the network's linear regions on the test rows, largest first
INITS_FILE = "inits.json"  # with train.inits > 1: every initialisation's record, the primary first
REPLICATES_FILE = "replicates.json"  # with train.replicates > 1: every replicate's record, the primary first
FIGURES_DIR = "figures"  # beside a model and in its run: the pictures of how the network computes, in this order
PREACTIVATION_FIGURE = "preactivation.png"
RELATIONS_FIGURE = "relations_over_epochs.png"  # an affine target's only
PREDICTIONS_FIGURE = "predicted_vs_true.png"
FIGURES = (PREACTIVATION_FIGURE, RELATIONS_FIGURE, PREDICTIONS_FIGURE)
LOSS_PLOTS = "loss"  # in paths.plots: one CSV per target, what `dvc plots` draws
SUMMARY_MARKDOWN = "summary.md"
SUMMARY_PAGE = "summary.html"


def dataset_file(dataset: Dataset) -> str:
    return f"{dataset.value}.npz"


@dataclass(frozen=True)
class Layout:
    """The DVC pipeline's files under the directories params.yaml's `paths` names."""

    paths: PathsConfig

    def data_file(self, dataset: Dataset) -> Path:
        return Path(self.paths.data) / dataset_file(dataset)

    def coefficients_file(self) -> Path:
        return Path(self.paths.data) / COEFFICIENTS_FILE

    def model_dir(self, target: str) -> Path:
        return Path(self.paths.models) / target

    def metrics_file(self, target: str) -> Path:
        return Path(self.paths.metrics) / f"{target}.json"

    def evaluation_file(self, target: str) -> Path:
        return Path(self.paths.evaluations) / f"{target}.json"

    def loss_file(self, target: str) -> Path:
        return Path(self.paths.plots) / LOSS_PLOTS / f"{target}.csv"

    def summary_markdown_file(self) -> Path:
        return Path(self.paths.reports) / SUMMARY_MARKDOWN

    def summary_page_file(self) -> Path:
        return Path(self.paths.reports) / SUMMARY_PAGE
