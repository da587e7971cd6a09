"""A sweep's summary: one row per job (its swept values, MSE, residuals, verdict, status), the share of jobs
whose relations hold, and plots of the results against each swept numeric key. Free of MLflow."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and CI
from matplotlib.figure import Figure

from pipeline.failures import RunStatus
from pipeline.files.html import figure_html, page_html, table_html
from pipeline.tracking.tags import FAILURE_TAG, JOB_TAG, OVERRIDE_TAG_PREFIX

RESULT_COLUMNS = ("test_mse", "m_residual", "c_residual", "relations_hold", "relu_active_fraction")
INITS_COLUMNS = ("relations_hold_share", "relu_dead_share")  # shown when jobs train several initialisations


@dataclass(frozen=True)
class JobResult:
    number: int
    overrides: dict[str, str]  # key -> value, as typed on the command line
    status: str  # MLflow's: FINISHED, or FAILED or KILLED
    failure: str | None
    metrics: dict[str, float]
    evaluation: dict[str, Any] | None  # the child's evaluation.json

    @classmethod
    def from_child(cls, child: Any) -> JobResult:
        """From a recorded child run (`tracking.runs.RecordedRun`)."""
        overrides = {
            key[len(OVERRIDE_TAG_PREFIX) :]: value for key, value in child.tags.items() if key.startswith(OVERRIDE_TAG_PREFIX)
        }
        return cls(
            int(child.tags[JOB_TAG]), overrides, child.status, child.tags.get(FAILURE_TAG), child.metrics, child.evaluation
        )

    @property
    def finished(self) -> bool:
        return self.status == RunStatus.FINISHED

    @property
    def relations_hold(self) -> bool:
        return self.finished and self.metrics.get("relations_hold") == 1.0


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _cell(job: JobResult, column: str) -> str:
    if column not in job.metrics:
        return ""
    if column == "relations_hold":
        return "yes" if job.relations_hold else "NO"
    if column.endswith(("_fraction", "_share")):  # 0.99975 must not print as 1
        return f"{job.metrics[column]:.5g}"
    return f"{job.metrics[column]:.3g}"


class SweepSummary:
    def __init__(self, jobs: Sequence[JobResult], launched: int | None = None):
        """`launched`: how many jobs the sweeper started, when it is known; jobs without a run are missing."""
        self.jobs = list(jobs)
        self.missing = max(0, launched - len(self.jobs)) if launched is not None else 0
        self.keys = self._swept_keys()
        several_inits = any(job.metrics.get("inits", 1) > 1 for job in self.jobs)
        self.columns = RESULT_COLUMNS + INITS_COLUMNS if several_inits else RESULT_COLUMNS

    def _swept_keys(self) -> list[str]:
        """The keys whose value differs between jobs; with a single job, all its overrides."""
        keys = list(dict.fromkeys(key for job in self.jobs for key in job.overrides))
        varying = [key for key in keys if len({job.overrides.get(key) for job in self.jobs}) > 1]
        return varying or keys

    @property
    def failed(self) -> int:
        return sum(not job.finished for job in self.jobs)

    @property
    def succeeded(self) -> bool:
        return not self.failed and not self.missing

    def metrics(self) -> dict[str, float]:
        """For the parent run: how many jobs, how many failed, and the share whose relations hold (a failed
        job counts as not holding)."""
        held = sum(job.relations_hold for job in self.jobs)
        return {
            "jobs": float(len(self.jobs)),
            "jobs_failed": float(self.failed),
            "jobs_missing": float(self.missing),
            "relations_hold_share": held / len(self.jobs) if self.jobs else math.nan,
        }

    def rows(self) -> list[list[str]]:
        header = ["job", *self.keys, *self.columns, "status"]
        body = [
            [
                str(job.number),
                *(job.overrides.get(key, "") for key in self.keys),
                *(_cell(job, c) for c in self.columns),
                job.status if job.finished else f"{job.status}: {job.failure or 'no reason recorded'}",
            ]
            for job in self.jobs
        ]
        return [header, *body]

    def markdown(self) -> str:
        header, *body = self.rows()
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in body]
        share = self.metrics()["relations_hold_share"]
        lines += [
            "",
            f"relations hold in {sum(job.relations_hold for job in self.jobs)} of {len(self.jobs)} jobs "
            f"({share:.0%}); {self.failed} failed",
        ]
        if self.missing:
            lines[-1] += f"; {self.missing} launched but left no run"
        return "\n".join(lines) + "\n"

    def csv(self) -> str:
        """Full precision, for pandas and spreadsheets."""
        header, *_ = self.rows()
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        for job in self.jobs:
            values = [str(job.number), *(job.overrides.get(key, "") for key in self.keys)]
            values += [repr(job.metrics[c]) if c in job.metrics else "" for c in self.columns]
            writer.writerow([*values, job.status])
        return out.getvalue()

    def files(self, figures: dict[str, Figure]) -> dict[str, str]:
        """The summary as Markdown, CSV, and a self-contained HTML page holding the figures (it opens offline)."""
        return {"sweep_summary.md": self.markdown(), "sweep_summary.csv": self.csv(), "sweep_report.html": self.html(figures)}

    def html(self, figures: dict[str, Figure]) -> str:
        header, *body = self.rows()
        held = sum(job.relations_hold for job in self.jobs)
        verdict = f"<p>relations hold in {held} of {len(self.jobs)} jobs; {self.failed} failed</p>"
        sections = [("Jobs", table_html(header, body) + verdict)]
        sections += [(name.removesuffix(".png").replace("_", " "), figure_html(figure, name)) for name, figure in figures.items()]
        return page_html("Sweep summary", sections)

    def figures(self) -> dict[str, Figure]:
        """Results against each swept numeric key, and true against recovered coefficients."""
        if not any(job.finished for job in self.jobs):
            return {}
        figures = {f"vs_{key.replace('/', '_')}.png": self._against(key) for key in self.keys if self._numeric(key)}
        if any(job.evaluation for job in self.jobs):
            figures["coefficients.png"] = self._coefficients()
        return figures

    def _numeric(self, key: str) -> bool:
        return all(_number(job.overrides.get(key, "")) is not None for job in self.jobs)

    def _against(self, key: str) -> Figure:
        done = [job for job in self.jobs if job.finished]
        x = [float(job.overrides[key]) for job in done]  # numeric: _numeric checked every job's value
        figure = Figure(figsize=(10, 4), layout="constrained")
        mse_axes, residual_axes = figure.subplots(1, 2)
        mse_axes.scatter(x, [max(job.metrics["test_mse"], 1e-300) for job in done])
        mse_axes.set(xlabel=key, ylabel="test MSE", yscale="log", title=f"test MSE against {key}")
        for name, marker in (("m_residual", "o"), ("c_residual", "x")):
            residual_axes.scatter(x, [max(job.metrics[name], 1e-300) for job in done], marker=marker, label=name)
        atol = next((job.evaluation["atol"] for job in done if job.evaluation), None)
        if atol is not None:
            residual_axes.axhline(atol, color="grey", linestyle="--", label=f"eval.atol {atol:g}")
        residual_axes.set(xlabel=key, ylabel="residual", yscale="log", title=f"relation residuals against {key}")
        residual_axes.legend()
        if _spans_decades(x):
            mse_axes.set_xscale("log")
            residual_axes.set_xscale("log")
        return figure

    def _coefficients(self) -> Figure:
        figure = Figure(figsize=(5, 5), layout="constrained")
        axes = figure.add_subplot()
        evaluations = [job.evaluation for job in self.jobs if job.evaluation]
        true_m = [v for ev in evaluations for v in ev["true_m"]]
        axes.scatter(true_m, [v for ev in evaluations for v in ev["recovered_m"]], label="slope m")
        axes.scatter(
            [ev["true_c"] for ev in evaluations], [ev["recovered_c"] for ev in evaluations], marker="x", label="intercept c"
        )
        low = min(true_m + [ev["true_c"] for ev in evaluations])
        high = max(true_m + [ev["true_c"] for ev in evaluations])
        axes.plot([low, high], [low, high], color="grey", linestyle="--", label="recovered = true")
        axes.set(xlabel="true coefficient", ylabel="recovered from the weights", title="true against recovered")
        axes.legend()
        return figure


def _spans_decades(values: Sequence[float]) -> bool:
    positive = [v for v in values if v > 0]
    return len(positive) == len(values) > 1 and max(positive) / min(positive) >= 100
