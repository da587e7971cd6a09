"""Stage `report`: every target's evaluation in one Markdown table, like the post's results."""
from __future__ import annotations

from pathlib import Path

from pipeline.config import PipelineConfig
from pipeline.evaluation import Evaluation
from pipeline.files import read_json, write_text
from pipeline.report import summary_markdown
from pipeline.stages import run_stage


def report(pipeline: PipelineConfig, args: list[str]) -> None:
    evaluations_dir = Path(pipeline.paths.evaluations)
    evaluations = {name: Evaluation(**read_json(evaluations_dir / f"{name}.json")) for name in pipeline.targets}
    write_text(Path(pipeline.paths.reports) / "summary.md", summary_markdown(evaluations))


if __name__ == "__main__":
    run_stage(report)
