"""Scoring a trained network: test MSE on the original scale, what it computes region by region, how well
that matches the target (the post's relations for an affine target, the local relations for every
piecewise-affine one), and the formulas."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from sklearn.metrics import mean_squared_error, r2_score

from pipeline.config import EvalConfig, Function, ModelConfig, Space
from pipeline.core.regions import NetworkRegions, active_fraction, find_regions
from pipeline.core.relations import format_formula, format_power_formula, local_residuals, relation_residuals
from pipeline.core.targets import TargetProblem, from_target_space
from pipeline.core.weights import NetworkWeights, TrainingRecord, WeightStack, forward, off_slope
from pipeline.errors import TrainingDiverged

# The metrics MLflow and DVC track, in this order; a metric that does not apply to the target is left out.
METRIC_NAMES = (
    "test_mse",
    "test_r2",
    "m_residual",
    "c_residual",
    "relations_hold",
    "relu_active_fraction",
    "relu_active_fraction_test",
    "local_relation_share",
    "local_relations_hold",
    "local_slope_residual_p50",
    "local_slope_residual_p90",
    "local_slope_residual_max",
    "local_intercept_residual_p50",
    "local_intercept_residual_p90",
    "local_intercept_residual_max",
    "linear_regions",
    "dead_units",
    "always_active_units",
    "converged",
    "w2_negative",
    "test_mse_at_lowest_train_mse",
    "lowest_train_mse_epoch",
)
QUANTILES = {"p50": 0.5, "p90": 0.9, "max": 1.0}


@dataclass(frozen=True)
class Evaluation:
    test_mse: float
    # On the original scale, as the MSE: the share of the target's variance the network explains (None when the
    # test rows have none: fewer than two, or all alike).
    test_r2: float | None
    # The post's relations, for an affine target: the map of the largest region with a unit on against m and c
    # (at width 1, w2*W1 and w2*b1 + b2 as in the post, wherever the ReLU is on for any row).
    m_residual: float | None
    c_residual: float | None
    relations_hold: bool | None
    relu_active_fraction: float  # share of training rows where at least one hidden unit is on
    relu_active_fraction_test: float
    atol: float
    true_formula: str
    recovered_formula: str  # the map of the largest test region with a unit on
    # Only for log-space targets: the same formulas on the original scale.
    true_formula_original: str | None
    recovered_formula_original: str | None
    recovered_m: list[float] | None
    recovered_c: float | None
    true_m: list[float] | None
    true_c: float | None
    width: int
    exact_width: int | None  # the fewest hidden units that represent the target exactly (None: no finite number)
    width_note: str | None  # why this network cannot be exact, when it is narrower than that
    # The network's linear regions on the test rows, largest first: pattern ("10": unit 1 on, unit 2 off),
    # share, slope, intercept and formula of each.
    linear_regions: int
    dead_units: int  # never on on a test row
    always_active_units: int  # on on every test row
    regions: list[dict[str, Any]]
    # The local relations, for a piecewise-affine target: per test row, the network's slope and intercept
    # against the target's there (max over inputs of the slope difference; the intercept difference).
    local_relation_share: float | None  # share of test rows where both are within atol
    local_relations_hold: bool | None  # local_relation_share >= eval.local_share: the exact construction
    local_slope_residual_p50: float | None
    local_slope_residual_p90: float | None
    local_slope_residual_max: float | None
    local_intercept_residual_p50: float | None
    local_intercept_residual_p90: float | None
    local_intercept_residual_max: float | None
    # Whether the network learned the target: its verdict (the post's relations, else the local ones) holds and its
    # test R² is at least eval.converged_r2 (None: the target has no verdict). The product's w2 < 0 networks hold
    # the relations in log space, the unit on for the smallest products only: they clip the largest.
    converged: bool | None
    w2_negative: bool | None  # width 1 with a kink: the output weight's sign (the unit on below a threshold of y)
    # The second figure: over the last eval.best_of_last epochs, the epoch-end state with the lowest training MSE
    # on the original scale (training data only choose it), and its test MSE. None without the epochs' weights.
    lowest_train_mse_epoch: int | None
    test_mse_at_lowest_train_mse: float | None

    def metrics(self) -> dict[str, float]:
        """The numbers MLflow and DVC track, verdicts as 0/1; those that do not apply to the target left out."""
        values = {name: getattr(self, name) for name in METRIC_NAMES}
        return {name: float(value) for name, value in values.items() if value is not None}

    def formulas(self) -> dict[str, str]:
        """The true and recovered formulas by name (and on the original scale, for a log-space target)."""
        formulas = {"true_formula": self.true_formula, "recovered_formula": self.recovered_formula}
        if self.true_formula_original is not None and self.recovered_formula_original is not None:
            formulas["true_formula_original"] = self.true_formula_original
            formulas["recovered_formula_original"] = self.recovered_formula_original
        return formulas

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _mean_squared_error(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """sklearn's MSE, or infinity where a far-off network's predictions (their exp, in log space) or its
    squared errors overflow: a number for that network, not a crash of the whole run."""
    if not np.all(np.isfinite(y_pred)):
        return math.inf
    with np.errstate(over="ignore"):
        return float(mean_squared_error(y_true, y_pred))


def _r2(y_true: np.ndarray, y_pred: np.ndarray) -> float | None:
    """sklearn's R², or minus infinity where the predictions are not finite (as `_mean_squared_error`); None
    where it is not defined: no variance in the test rows to explain."""
    if len(y_true) < 2 or np.all(y_true == y_true[0]):
        return None
    if not np.all(np.isfinite(y_pred)):
        return -math.inf
    with np.errstate(over="ignore"):
        return float(r2_score(y_true, y_pred))


def width_note(problem: TargetProblem, width: int) -> str | None:
    """One line when the target needs more hidden units than the network has: its misses are then the
    architecture's, not the training's."""
    if problem.exact_width is None or problem.exact_width <= width:
        return None
    units = "1 hidden unit" if width == 1 else f"{width} hidden units"
    return f"{problem.name} is exact at width {problem.exact_width}; this network has {units}, so it cannot represent it exactly"


def _post_relations(problem: TargetProblem, regions: NetworkRegions, atol: float) -> dict[str, Any]:
    """The post's relations and coefficients, for an affine target; all None for any other."""
    if problem.function.kind is not Function.affine or problem.relation is None:
        keys = ("m_residual", "c_residual", "relations_hold", "recovered_m", "recovered_c", "true_m", "true_c")
        return dict.fromkeys(keys)
    recovered, expected = regions.largest_active.map, problem.relation
    residuals = relation_residuals(recovered, expected)
    return {
        "m_residual": residuals.m_residual,
        "c_residual": residuals.c_residual,
        "relations_hold": residuals.hold(atol),
        "recovered_m": [float(v) for v in recovered.slope],
        "recovered_c": float(recovered.intercept),
        "true_m": [float(v) for v in expected.slope],
        "true_c": float(expected.intercept),
    }


LOCAL_RESIDUALS = {f"local_{part}_residual_{name}": (part, q) for part in ("slope", "intercept") for name, q in QUANTILES.items()}


def _local_relations(problem: TargetProblem, regions: NetworkRegions, eval_: EvalConfig) -> dict[str, Any]:
    """The local relations on the test rows, for a piecewise-affine target; all None for any other."""
    target_maps = problem.function.local_maps(problem.z_test)
    if target_maps is None:
        return dict.fromkeys(["local_relation_share", "local_relations_hold", *LOCAL_RESIDUALS])
    residuals = local_residuals(regions.local, target_maps)
    share = residuals.share_within(eval_.atol)
    quantiles = {key: float(np.quantile(getattr(residuals, part), q)) for key, (part, q) in LOCAL_RESIDUALS.items()}
    return {"local_relation_share": share, "local_relations_hold": share >= eval_.local_share, **quantiles}


def _original_formulas(problem: TargetProblem, regions: NetworkRegions) -> tuple[str | None, str | None]:
    """A log-space affine target's true and recovered formulas on the original scale, as powers of x."""
    if problem.space is not Space.log or problem.relation is None or problem.function.kind is not Function.affine:
        return None, None
    return format_power_formula(problem.relation), format_power_formula(regions.largest_active.map)


def _verdict(post: dict[str, Any], local: dict[str, Any]) -> bool | None:
    return post["relations_hold"] if post["relations_hold"] is not None else local["local_relations_hold"]


STATES_PER_PASS = 4_000_000  # hidden values at once when scoring many epoch-end states (32 MB; a few such arrays live)


def lowest_train_mse_state(trajectory: WeightStack, problem: TargetProblem, model: ModelConfig, last: int) -> tuple[int, float]:
    """Among the last `last` epoch-end states, the one with the lowest training MSE on the original scale
    (the target's, after exp for a log-space one): its epoch (from 1) and its test MSE. Training data only
    choose it, so the test MSE stays an honest estimate."""
    first = len(trajectory) - min(last, len(trajectory))
    y_train = from_target_space(problem.y_train, problem.space)
    per_pass = max(1, STATES_PER_PASS // (len(problem.z_train) * trajectory.W1.shape[2]))
    train_mse = []
    for start in range(first, len(trajectory), per_pass):
        states = trajectory.between(start, min(start + per_pass, len(trajectory)))
        with np.errstate(over="ignore", invalid="ignore"):
            predictions = from_target_space(states.forward(problem.z_train, off_slope(model)), problem.space)
            train_mse += list(np.mean((predictions - y_train) ** 2, axis=1))
    errors = np.nan_to_num(np.asarray(train_mse), nan=math.inf)
    best = first + int(np.argmin(errors))
    y_test = from_target_space(problem.function.values(problem.z_test), problem.space)
    with np.errstate(over="ignore"):
        y_pred = from_target_space(forward(trajectory[best], problem.z_test, off_slope(model)), problem.space)
    return best + 1, _mean_squared_error(y_test, y_pred)


def evaluate_network(
    weights: NetworkWeights,
    problem: TargetProblem,
    *,
    model: ModelConfig,
    eval_: EvalConfig,
    trajectory: WeightStack | None = None,
) -> Evaluation:
    """One network scored on the test rows (the active fraction also on the training rows): its regions are
    read there, so the recovered formula and the relations are about the inputs it is scored on. With its
    epochs' weights, also the second figure (`lowest_train_mse_state`)."""
    slope_below_zero = off_slope(model)
    regions = find_regions(weights, problem.z_test, slope_below_zero)
    y_test = from_target_space(problem.function.values(problem.z_test), problem.space)
    with np.errstate(over="ignore"):
        y_pred = from_target_space(forward(weights, problem.z_test, slope_below_zero), problem.space)
    true_original, recovered_original = _original_formulas(problem, regions)
    post, local = _post_relations(problem, regions, eval_.atol), _local_relations(problem, regions, eval_)
    test_mse, test_r2 = _mean_squared_error(y_test, y_pred), _r2(y_test, y_pred)
    verdict = _verdict(post, local)
    kinked_width_1 = weights.width == 1 and slope_below_zero < 1
    epoch, selected_mse = (
        lowest_train_mse_state(trajectory, problem, model, eval_.best_of_last) if trajectory is not None else (None, None)
    )
    return Evaluation(
        test_mse=test_mse,
        test_r2=test_r2,
        relu_active_fraction=active_fraction(weights, problem.z_train, slope_below_zero),
        relu_active_fraction_test=active_fraction(weights, problem.z_test, slope_below_zero),
        atol=eval_.atol,
        true_formula=problem.function.formula(problem.space),
        recovered_formula=format_formula(regions.largest_active.map, problem.space),
        true_formula_original=true_original,
        recovered_formula_original=recovered_original,
        width=weights.width,
        exact_width=problem.exact_width,
        width_note=width_note(problem, weights.width),
        linear_regions=regions.linear_regions,
        dead_units=regions.dead_units,
        always_active_units=regions.always_active_units,
        regions=[region.to_dict(problem.space) for region in regions.regions],
        converged=None if verdict is None else bool(verdict and (test_r2 is None or test_r2 >= eval_.converged_r2)),
        w2_negative=bool(weights.w2[0] < 0) if kinked_width_1 else None,
        lowest_train_mse_epoch=epoch,
        test_mse_at_lowest_train_mse=selected_mse,
        **post,
        **local,
    )


def evaluate_training(
    records: Sequence[TrainingRecord], problem: TargetProblem, *, model: ModelConfig, eval_: EvalConfig, lr: float
) -> list[Evaluation]:
    """Every initialisation's learned weights scored, the primary first. A primary whose test MSE overflows
    has failed like a diverged training: it raises, so no run of it looks finished."""
    evaluations = [
        evaluate_network(record.learned, problem, model=model, eval_=eval_, trajectory=record.trajectory) for record in records
    ]
    if not math.isfinite(evaluations[0].test_mse):
        raise TrainingDiverged(
            f"the network's test MSE is {evaluations[0].test_mse} (its predictions overflow on the original "
            f"scale): it did not learn the target; lower train.lr (was {lr})",
            records[0].loss_history,
        )
    return evaluations


VERDICTS = ("relations_hold", "local_relations_hold")  # the post's relations; the local ones (exact)


def verdict_counts(evaluations: Sequence[Evaluation]) -> dict[str, int]:
    """For each verdict the target has (the post's relations for an affine one, the local ones for a
    piecewise-affine one), how many of the networks hold it."""
    return {
        verdict: sum(bool(getattr(ev, verdict)) for ev in evaluations)
        for verdict in VERDICTS
        if getattr(evaluations[0], verdict) is not None
    }


def best_initialisation(evaluations: Sequence[Evaluation]) -> tuple[int, Evaluation]:
    """The initialisation with the lowest test MSE, and its number."""
    return min(enumerate(evaluations), key=lambda pair: pair[1].test_mse)


def inits_summary(evaluations: Sequence[Evaluation]) -> dict[str, float]:
    """How many initialisations were trained, the share whose relations hold (the convergence rate; the post's
    for an affine target, the local ones for a piecewise-affine one), and the share with no unit on any
    training row (a dead network: with ReLUs, it outputs a constant)."""
    count = len(evaluations)
    shares = {f"{verdict}_share": held / count for verdict, held in verdict_counts(evaluations).items()}
    return {"inits": float(count), **shares, "relu_dead_share": sum(ev.relu_active_fraction == 0 for ev in evaluations) / count}


def networks_columns(evaluations: Sequence[Evaluation], first_seed: int, kind: str) -> dict[str, list[Any]]:
    """One row per initialisation or replicate (`kind`), every metric the networks have a column (None where
    it does not apply); network k started from model seed first_seed + k."""
    metrics = [ev.metrics() for ev in evaluations]
    columns: dict[str, list[Any]] = {
        kind: list(range(len(evaluations))),
        "model_seed": [first_seed + k for k in range(len(evaluations))],
    }
    for name in METRIC_NAMES:
        if any(name in values for values in metrics):
            columns[name] = [values.get(name) for values in metrics]
    return columns


def networks_table(columns: dict[str, list[Any]]) -> str:
    """`networks_columns` as CSV: floats as their repr, empty where a metric does not apply."""
    lines = [",".join(columns)]
    for row in zip(*columns.values(), strict=True):
        lines.append(",".join("" if value is None else repr(value) for value in row))
    return "\n".join(lines) + "\n"
