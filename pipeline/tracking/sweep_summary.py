"""A sweep's summary: one row per job (its swept values, MSE, residuals, verdicts, linear regions, status), the
share of jobs whose relations hold, and plots of the results against each swept numeric key, a colour per
target. Free of MLflow."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and CI
from matplotlib.figure import Figure

from pipeline.failures import RunStatus
from pipeline.files.html import figure_html, page_html, table_html
from pipeline.tracking.tags import FAILURE_TAG, JOB_TAG, OVERRIDE_TAG_PREFIX

# A column is shown when some job has its metric: no m and c for max2, no local relations for product2.
RESULT_COLUMNS = (
    "test_mse",
    "m_residual",
    "c_residual",
    "relations_hold",
    "local_relation_share",
    "local_relations_hold",
    "linear_regions",
    "dead_units",
    "relu_active_fraction",
)
INITS_COLUMNS = ("relations_hold_share", "local_relations_hold_share", "relu_dead_share")  # jobs of several initialisations
VERDICTS = {"relations_hold": "relations hold", "local_relations_hold": "the local relations hold (exact)"}


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

    def holds(self, verdict: str) -> bool:
        """A verdict of VERDICTS, true only for a finished job whose metric says so."""
        return self.finished and self.metrics.get(verdict) == 1.0

    @property
    def target(self) -> str:
        """What the job trained on, when the sweep chose it: the colour of its points."""
        return self.overrides.get("target", "")


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


COUNTS = ("linear_regions", "dead_units")  # whole numbers: 1050 regions, not 1.05e+03


def _cell(job: JobResult, column: str) -> str:
    if column not in job.metrics:
        return ""
    if column in COUNTS:
        return f"{job.metrics[column]:.0f}"
    if column in VERDICTS:
        return "yes" if job.holds(column) else "NO"
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
        candidates = RESULT_COLUMNS + INITS_COLUMNS if several_inits else RESULT_COLUMNS
        self.columns = tuple(c for c in candidates if any(c in job.metrics for job in self.jobs)) or RESULT_COLUMNS[:1]
        self.verdicts = [v for v in VERDICTS if v in self.columns]

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
        """For the parent run: how many jobs, how many failed, and for each verdict the jobs have (the post's
        relations, the local relations) the share of jobs where it holds (a failed job counts as not holding)."""
        shares = {f"{verdict}_share": sum(job.holds(verdict) for job in self.jobs) / len(self.jobs) for verdict in self.verdicts}
        if not self.jobs:
            shares = {"relations_hold_share": math.nan}
        return {
            "jobs": float(len(self.jobs)),
            "jobs_failed": float(self.failed),
            "jobs_missing": float(self.missing),
            **shares,
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
        lines += ["", self.verdict_line()]
        return "\n".join(lines) + "\n"

    def verdict_line(self) -> str:
        """E.g. `relations hold in 2 of 3 jobs (67%); 1 failed`: each verdict the jobs have, then the failures."""
        parts = [
            f"{VERDICTS[v]} in {sum(job.holds(v) for job in self.jobs)} of {len(self.jobs)} jobs "
            f"({sum(job.holds(v) for job in self.jobs) / len(self.jobs):.0%})"
            for v in self.verdicts
        ]
        line = "; ".join([*parts, f"{self.failed} failed"])
        return line + (f"; {self.missing} launched but left no run" if self.missing else "")

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
        sections = [("Jobs", table_html(header, body) + f"<p>{escape(self.verdict_line())}</p>")]
        sections += [(name.removesuffix(".png").replace("_", " "), figure_html(figure, name)) for name, figure in figures.items()]
        return page_html("Sweep summary", sections)

    def figures(self) -> dict[str, Figure]:
        """Results against each swept numeric key, and true against recovered coefficients."""
        if not any(job.finished for job in self.jobs):
            return {}
        figures = {f"vs_{key.replace('/', '_')}.png": self._against(key) for key in self.keys if self._numeric(key)}
        if any(job.evaluation and job.evaluation.get("true_m") is not None for job in self.jobs):
            figures["coefficients.png"] = self._coefficients()
        return figures

    def _numeric(self, key: str) -> bool:
        return all(_number(job.overrides.get(key, "")) is not None for job in self.jobs)

    def _against(self, key: str) -> Figure:
        """Test MSE, the relation residuals and the linear regions against one swept key, a colour per target
        (each panel where some job has its numbers)."""
        done = [job for job in self.jobs if job.finished]
        panels: list[tuple[str, tuple[str, ...], str]] = [("test MSE", ("test_mse",), "log")]
        if any("m_residual" in job.metrics for job in done):
            panels.append(("relation residual", ("m_residual", "c_residual"), "log"))
        if any("linear_regions" in job.metrics for job in done):
            panels.append(("linear regions on the test rows", ("linear_regions",), "log"))
        figure = Figure(figsize=(5 * len(panels), 4), layout="constrained")
        axes_row = figure.subplots(1, len(panels), squeeze=False)[0]
        targets = list(dict.fromkeys(job.target for job in done))
        for axes, (label, names, yscale) in zip(axes_row, panels, strict=True):
            for colour, target in enumerate(targets):
                for name, marker in zip(names, ("o", "x"), strict=False):
                    jobs = [job for job in done if job.target == target and name in job.metrics]
                    x = [float(job.overrides[key]) for job in jobs]  # numeric: _numeric checked every job's value
                    legend = " ".join(part for part in (target, name if len(names) > 1 else "") if part) or None
                    axes.scatter(
                        x, [max(job.metrics[name], 1e-300) for job in jobs], color=f"C{colour}", marker=marker, label=legend
                    )
            axes.set(xlabel=key, ylabel=label, yscale=yscale, title=f"{label} against {key}")
            if _spans_decades([float(job.overrides[key]) for job in done]):
                axes.set_xscale("log")
            if axes.get_legend_handles_labels()[1]:
                axes.legend()
        atol = next((job.evaluation["atol"] for job in done if job.evaluation), None)
        if atol is not None and len(panels) > 1 and panels[1][1][0] == "m_residual":
            axes_row[1].axhline(atol, color="grey", linestyle="--", label=f"eval.atol {atol:g}")
            axes_row[1].legend()
        return figure

    def _coefficients(self) -> Figure:
        figure = Figure(figsize=(5, 5), layout="constrained")
        axes = figure.add_subplot()
        evaluations = [job.evaluation for job in self.jobs if job.evaluation and job.evaluation.get("true_m") is not None]
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
    """Positive values over more than a decade (learning rates 0.0003 to 0.03, widths 1 to 64): a log axis."""
    positive = [v for v in values if v > 0]
    return len(positive) == len(values) > 1 and max(positive) / min(positive) >= 16
