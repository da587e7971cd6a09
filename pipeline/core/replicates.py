"""A setting judged by its distribution over replicates, not by one draw: independent trainings (their own
initialisations and batch orders) of one configuration, summarised by the share that converged, with its
confidence interval, and the spread of their test MSE and residuals; and a published figure (the post's)
placed on that distribution.

One run is one draw: among the product's converged networks the last-epoch test MSE spans two decades from
batch order alone, and a third of the initialisations end with `w2 < 0`, the ReLU off on the largest
products. The share converged is a binomial proportion, so its interval is Wilson's (scipy's), which
stays inside [0, 1] and keeps its coverage for a few dozen replicates, where the normal approximation
does not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import binomtest

from pipeline.core.evaluation import Evaluation, inits_summary

CONFIDENCE = 0.95  # the share converged's interval


@dataclass(frozen=True)
class Spread:
    """Where the values lie: the extremes, the quartiles and the median."""

    min: float
    q1: float
    median: float
    q3: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        low, q1, median, q3, high = np.quantile(np.asarray(values, dtype=np.float64), [0.0, 0.25, 0.5, 0.75, 1.0])
        return cls(float(low), float(q1), float(median), float(q3), float(high))

    def metrics(self, prefix: str) -> dict[str, float]:
        return {f"{prefix}_{name}": value for name, value in vars(self).items()}

    def text(self) -> str:
        return f"median {self.median:.3g} [quartiles {self.q1:.3g}, {self.q3:.3g}], range {self.min:.3g} to {self.max:.3g}"


def wilson_interval(successes: int, trials: int) -> tuple[float, float]:
    """The CONFIDENCE Wilson score interval of a binomial proportion."""
    interval = binomtest(successes, trials).proportion_ci(confidence_level=CONFIDENCE, method="wilson")
    return float(interval.low), float(interval.high)


def ordinal(number: int) -> str:
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


@dataclass(frozen=True)
class Placement:
    """A published figure on the converged replicates' test MSE: its percentile among them (the percentage
    at or below it) and their range."""

    figure: float
    percentile: float
    low: float  # the converged replicates' lowest test MSE
    high: float

    @classmethod
    def of(cls, figure: float, converged: Sequence[float]) -> Placement:
        values = np.asarray(converged, dtype=np.float64)
        return cls(figure, float(100.0 * np.mean(values <= figure)), float(values.min()), float(values.max()))

    @property
    def position(self) -> str:
        if self.figure < self.low:
            return "below their lowest"
        return "above their highest" if self.figure > self.high else "inside their range"

    def text(self) -> str:
        """E.g. `7.52e-09: the 15th percentile of the converged replicates, inside their range [6.69e-09, 7.33e-07]`."""
        return (
            f"{self.figure:.3g}: the {ordinal(round(self.percentile))} percentile of the converged replicates, "
            f"{self.position} [{self.low:.3g}, {self.high:.3g}]"
        )


@dataclass(frozen=True)
class ReplicateSummary:
    replicates: int
    # The target's verdict holds and the test R² reaches eval.converged_r2 (Evaluation.converged); None for a
    # target without a verdict (product2), where the spread of the test MSE is the result.
    converged: int | None
    w2_negative_failures: int | None  # width 1: of the others, how many ended with w2 < 0 (the product's failure)
    converged_interval: tuple[float, float] | None
    test_mse: Spread  # over every replicate
    converged_test_mse: Spread | None  # over the converged ones
    converged_selected_test_mse: Spread | None  # the second figure (lowest training MSE late in training), converged
    m_residual: Spread | None  # over every replicate, for an affine target
    c_residual: Spread | None
    post_test_mse: float | None  # the post's figure, for its three targets
    post: Placement | None  # that figure on the converged replicates, when some converged

    def metrics(self) -> dict[str, float]:
        """What the run records: counts as shares, each spread as five numbers."""
        values = {"replicates": float(self.replicates), **self.test_mse.metrics("replicates_test_mse")}
        if self.converged is not None and self.converged_interval is not None:
            values |= {
                "converged_share": self.converged / self.replicates,
                "converged_share_low": self.converged_interval[0],
                "converged_share_high": self.converged_interval[1],
            }
        if self.w2_negative_failures is not None:
            values["w2_negative_failure_share"] = self.w2_negative_failures / self.replicates
        for prefix, spread in (
            ("converged_test_mse", self.converged_test_mse),
            ("converged_test_mse_at_lowest_train_mse", self.converged_selected_test_mse),
            ("replicates_m_residual", self.m_residual),
            ("replicates_c_residual", self.c_residual),
        ):
            values |= spread.metrics(prefix) if spread is not None else {}
        if self.post_test_mse is not None:
            values["post_test_mse"] = self.post_test_mse
        if self.post is not None:
            values["post_test_mse_percentile"] = self.post.percentile
        return values

    def lines(self) -> list[str]:
        """The distribution in words: what the terminal and the run's description show."""
        lines = [self._converged_line(), f"test MSE, all: {self.test_mse.text()}"]
        if self.converged_test_mse is not None:
            lines.append(f"test MSE, converged: {self.converged_test_mse.text()}")
        if self.converged_selected_test_mse is not None:
            lines.append(f"at the lowest training MSE, converged: {self.converged_selected_test_mse.text()}")
        if self.m_residual is not None and self.c_residual is not None:
            lines += [f"m residual: {self.m_residual.text()}", f"c residual: {self.c_residual.text()}"]
        if self.post is not None:
            lines.append(f"the post's test MSE {self.post.text()}")
        elif self.post_test_mse is not None:
            lines.append(f"the post's test MSE {self.post_test_mse:.3g}: no replicate converged to place it among")
        return lines

    def _converged_line(self) -> str:
        if self.converged is None or self.converged_interval is None:
            return "converged: the target has no verdict (no relations to hold), so its test MSE is the result"
        low, high = self.converged_interval
        line = (
            f"converged in {self.converged} of {self.replicates} ({self.converged / self.replicates:.0%}, "
            f"{CONFIDENCE:.0%} CI {low:.0%} to {high:.0%})"
        )
        if self.w2_negative_failures is not None and self.converged < self.replicates:
            line += f"; {self.replicates - self.converged} did not, {self.w2_negative_failures} of them with w2 < 0"
        return line


def summarise_replicates(evaluations: Sequence[Evaluation], post_test_mse: float | None) -> ReplicateSummary:
    """The distribution over replicates' evaluations (the run's own first), and the post's figure on it."""
    converged = [ev for ev in evaluations if ev.converged]
    judged = evaluations[0].converged is not None  # the target has a verdict: a network converges or not
    negative = [ev.w2_negative for ev in evaluations]
    failed_negative = [ev.w2_negative for ev in evaluations if not ev.converged]
    converged_mse = [ev.test_mse for ev in converged]
    selected_mse = [ev.test_mse_at_lowest_train_mse for ev in converged if ev.test_mse_at_lowest_train_mse is not None]
    m_residuals = [ev.m_residual for ev in evaluations if ev.m_residual is not None]
    c_residuals = [ev.c_residual for ev in evaluations if ev.c_residual is not None]
    return ReplicateSummary(
        replicates=len(evaluations),
        converged=len(converged) if judged else None,
        w2_negative_failures=None
        if not judged or any(flag is None for flag in negative)
        else sum(bool(flag) for flag in failed_negative),
        converged_interval=wilson_interval(len(converged), len(evaluations)) if judged else None,
        test_mse=Spread.of([ev.test_mse for ev in evaluations]),
        converged_test_mse=Spread.of(converged_mse) if converged_mse else None,
        converged_selected_test_mse=Spread.of(selected_mse) if selected_mse else None,
        m_residual=Spread.of(m_residuals) if m_residuals else None,
        c_residual=Spread.of(c_residuals) if c_residuals else None,
        post_test_mse=post_test_mse,
        post=Placement.of(post_test_mse, converged_mse) if post_test_mse is not None and converged_mse else None,
    )


def run_metrics(evaluations: Sequence[Evaluation], replicates: ReplicateSummary | None) -> dict[str, float]:
    """A run's numbers: its own network's, then its networks' together (the replicates' distribution, or the
    initialisations' shares): what its MLflow run and DVC's metrics file hold."""
    several = replicates.metrics() if replicates is not None else inits_summary(evaluations)
    return evaluations[0].metrics() | several
