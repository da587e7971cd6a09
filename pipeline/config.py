"""Configuration: the enums, one dataclass per conf/ group, and the one loader both doors validate through.

The values live in conf/ only; these schemas give them types and shape, and this module imports no
domain module: every other module depends on it, never the reverse. The Hydra door
(`python -m pipeline.run`) composes `conf/config.yaml`: one target per run. The DVC door (`dvc repro`)
reads `params.yaml`, which is `conf/pipeline.yaml` composed: every target. Both go through `_to_object`
and the same checks before anything is drawn or logged.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from omegaconf import MISSING, DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from pipeline.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = PROJECT_ROOT / "conf"
MAX_VALUES_PER_SPLIT = 100_000_000


class Dataset(enum.Enum):
    """The two input distributions of the post; gamma's inputs are positive, so logs are defined."""

    gaussian = "gaussian"
    gamma = "gamma"

    @property
    def positive(self) -> bool:
        return self is Dataset.gamma


class Space(enum.Enum):
    """Where the target is linear: in the inputs, or in their logs (the post's product trick)."""

    linear = "linear"
    log = "log"


class Coefficients(enum.Enum):
    """How a target's slope m and intercept c are chosen (core.targets holds each rule)."""

    ones = "ones"  # sum and product: every input counts once, no constant
    drawn = "drawn"  # the post's weighted sum + constant: m and c drawn from the data stream
    mean = "mean"  # a mean (or, in log space, a geometric mean): each input weighs 1/n


class Function(enum.Enum):
    """The shape of a target's true function f(z), z the inputs in the target's space (core.targets holds
    each rule). Every one but the product of inputs is piecewise affine, so each row has a local slope and
    intercept a network of this family can match exactly."""

    affine = "affine"  # z·m + c: the post's targets
    relu_of_affine = "relu_of_affine"  # max(0, z·m + c)
    abs_of_affine = "abs_of_affine"  # |z·m + c|
    max_of_inputs = "max_of_inputs"  # max(x1, ..., xk), k = target.inputs
    product_of_inputs = "product_of_inputs"  # x1 * ... * xk: not piecewise affine, no finite exact network

    @property
    def piecewise_affine(self) -> bool:
        return self is not Function.product_of_inputs


class Activation(enum.Enum):
    """The hidden units' activation: each is the identity where its pre-activation is > 0 and has a slope
    (0, model.negative_slope or 1) below, so every network of the family is piecewise affine."""

    relu = "relu"
    leaky_relu = "leaky_relu"
    linear = "linear"


class Optimizer(enum.Enum):
    """Keras's optimizers with Keras's semantics and defaults: SGD, SGD with (non-Nesterov) momentum, Adam."""

    sgd = "sgd"
    momentum = "momentum"
    adam = "adam"


class Dtype(enum.Enum):
    """The compiled engine's floating point: float32 is the post's (and Keras's); float64 trains past its
    floor, where the smallest updates to a converged network round away."""

    float32 = "float32"
    float64 = "float64"


class Engine(enum.Enum):
    """Who executes the training, never which algorithm: both take each epoch's row order from the same
    seeded source. compiled: one XLA graph per epoch, ~100x faster; keras: the post's model.fit."""

    compiled = "compiled"
    keras = "keras"


@dataclass
class GaussianConfig:
    loc: float = MISSING
    scale: float = MISSING


@dataclass
class GammaConfig:
    shape: float = MISSING
    scale: float = MISSING


@dataclass
class DataConfig:
    seed: int = MISSING
    x_size: int = MISSING
    n_train: int = MISSING
    n_test: int = MISSING
    gaussian: GaussianConfig = field(default_factory=GaussianConfig)
    gamma: GammaConfig = field(default_factory=GammaConfig)


@dataclass
class TargetConfig:
    name: str = MISSING
    dataset: Dataset = MISSING
    space: Space = MISSING
    coefficients: Coefficients = MISSING
    function: Function = MISSING
    inputs: int | None = MISSING  # max_of_inputs, product_of_inputs: the first k inputs (None: all of them)
    exact_width: int | None = MISSING  # the fewest hidden ReLUs that represent it exactly (None: no finite network)
    post_test_mse: float | None = MISSING  # the blog post's figure, for its three targets: placed on our distribution


@dataclass
class ModelConfig:
    seed: int = MISSING
    width: int = MISSING  # hidden units
    activation: Activation = MISSING
    negative_slope: float = MISSING  # leaky_relu's slope below zero


@dataclass
class TrainConfig:
    engine: Engine = MISSING
    inits: int = MISSING  # networks trained at once from seeds model.seed, model.seed+1, ...; compiled engine
    replicates: int = MISSING  # independent trainings at once: replicate k's init and batches from model.seed+k
    dtype: Dtype = MISSING  # the compiled engine's floating point
    epochs: int = MISSING
    batch_size: int = MISSING
    lr: float = MISSING
    optimizer: Optimizer = MISSING
    momentum: float = MISSING  # train.optimizer=momentum only


@dataclass
class EvalConfig:
    atol: float = MISSING
    # A network counts as the target's exact construction when its local slope and intercept agree with the
    # target's (within atol) on at least this share of the test rows.
    local_share: float = MISSING
    # The second figure: the test MSE of the epoch-end state with the lowest training MSE (original scale)
    # among the last this many epochs (every epoch of a shorter training); training data only choose it.
    best_of_last: int = MISSING
    # A network has converged when its verdict holds (the post's relations, else the local ones) and its test R²
    # on the original scale is at least this: the product's w2 < 0 networks hold the relations in log space
    # but clip the largest products (R² 0.88).
    converged_r2: float = MISSING


@dataclass
class TrackingConfig:
    uri: str | None = MISSING
    experiment: str = MISSING


@dataclass
class PathsConfig:
    """Where the DVC stages read and write; dvc.yaml templates its paths from these same keys."""

    data: str = MISSING
    models: str = MISSING
    metrics: str = MISSING
    plots: str = MISSING
    reports: str = MISSING
    evaluations: str = MISSING


@dataclass
class RunConfig:
    """One training run: what the Hydra door composes, and what the DVC door derives per target."""

    data: DataConfig = field(default_factory=DataConfig)
    target: TargetConfig = field(default_factory=TargetConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)


@dataclass
class PipelineConfig:
    """The DVC pipeline: every target, trained on data drawn once."""

    data: DataConfig = field(default_factory=DataConfig)
    targets: dict[str, TargetConfig] = field(default_factory=dict)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    # conf/'s digest when params.yaml was composed (`${conf_digest:}`, hydra_plugins/toy_ann_lab): the stages
    # compare it with conf/ now, so params.yaml may be edited by hand while an uncomposed conf/ edit is caught.
    conf_digest: str = MISSING

    def run_config(self, target_name: str) -> RunConfig:
        if target_name not in self.targets:
            raise ConfigError(f"target {target_name!r} is not in params.yaml: choose one of {', '.join(sorted(self.targets))}")
        return RunConfig(
            data=self.data,
            target=self.targets[target_name],
            model=self.model,
            train=self.train,
            eval=self.eval,
            tracking=self.tracking,
        )


def _check(ok: bool, key: str, value: Any, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"{key}={value!r} is not allowed: {allowed}")


def _check_positive_int(key: str, value: int) -> None:
    _check(value >= 1, key, value, "must be a positive integer")


def _check_seed(key: str, value: int) -> None:
    _check(0 <= value < 2**32, key, value, "must be an integer from 0 to 2**32 - 1 (NumPy's seed range)")


def _check_positive_finite(key: str, value: float) -> None:
    _check(math.isfinite(value) and value > 0, key, value, "must be a positive finite number")


def validate_target(target: TargetConfig, key: str, x_size: int) -> None:
    if target.space is Space.log and not target.dataset.positive:
        raise ConfigError(
            f"{key}.space=log takes the log of the inputs, which needs positive data, "
            f"but {key}.dataset={target.dataset.value!r} has values <= 0: use {key}.dataset=gamma"
        )
    if target.inputs is not None:
        _check(
            target.function in (Function.max_of_inputs, Function.product_of_inputs),
            f"{key}.inputs",
            target.inputs,
            f"only {key}.function=max_of_inputs or product_of_inputs takes a number of inputs: remove it",
        )
        _check(1 <= target.inputs <= x_size, f"{key}.inputs", target.inputs, f"must be from 1 to data.x_size={x_size}")
    if target.exact_width is not None:
        _check_positive_int(f"{key}.exact_width", target.exact_width)
        _check(
            target.function is not Function.product_of_inputs,
            f"{key}.exact_width",
            target.exact_width,
            "must be null for product_of_inputs: no finite network of ReLUs represents a product exactly",
        )


def validate_model(model: ModelConfig, train: TrainConfig) -> None:
    _check_seed("model.seed", model.seed)
    _check_seed("model.seed", model.seed + max(train.inits, train.replicates) - 1)
    _check_positive_int("model.width", model.width)
    _check(
        0 <= model.negative_slope < 1,
        "model.negative_slope",
        model.negative_slope,
        "must be in [0, 1): the leaky ReLU's slope below zero (0 is the ReLU)",
    )


def validate_shared(data: DataConfig, train: TrainConfig, eval_: EvalConfig, tracking: TrackingConfig) -> None:
    _check_seed("data.seed", data.seed)
    for key in ("x_size", "n_train", "n_test"):
        _check_positive_int(f"data.{key}", getattr(data, key))
    for key in ("n_train", "n_test"):
        rows = getattr(data, key)
        _check(
            rows * data.x_size <= MAX_VALUES_PER_SPLIT,
            f"data.{key}",
            rows,
            f"data.{key} * data.x_size must be at most {MAX_VALUES_PER_SPLIT:.0e} values (0.8 GB of float64 per split)",
        )
    _check(math.isfinite(data.gaussian.loc), "data.gaussian.loc", data.gaussian.loc, "must be a finite number")
    _check_positive_finite("data.gaussian.scale", data.gaussian.scale)
    _check_positive_finite("data.gamma.shape", data.gamma.shape)
    _check_positive_finite("data.gamma.scale", data.gamma.scale)
    _check_positive_int("train.inits", train.inits)
    _check(
        train.inits == 1 or train.engine is Engine.compiled,
        "train.inits",
        train.inits,
        "more than 1 needs train.engine=compiled (model.fit trains one network at a time)",
    )
    _check_positive_int("train.replicates", train.replicates)
    _check(
        train.replicates == 1 or train.inits == 1,
        "train.replicates",
        train.replicates,
        f"cannot go with train.inits={train.inits}: replicates vary the initialisation and the batches, inits the "
        "initialisation alone on shared batches; set one of them to 1",
    )
    _check(
        (train.replicates == 1 and train.dtype is Dtype.float32) or train.engine is Engine.compiled,
        "train.replicates" if train.replicates > 1 else "train.dtype",
        train.replicates if train.replicates > 1 else train.dtype.value,
        "needs train.engine=compiled (model.fit trains one float32 network at a time)",
    )
    _check_positive_int("train.epochs", train.epochs)
    _check_positive_int("train.batch_size", train.batch_size)
    _check(
        train.batch_size <= data.n_train,
        "train.batch_size",
        train.batch_size,
        f"must be at most data.n_train={data.n_train}",
    )
    _check_positive_finite("train.lr", train.lr)
    _check(0 <= train.momentum < 1, "train.momentum", train.momentum, "must be in [0, 1) (Keras's SGD momentum)")
    _check_positive_finite("eval.atol", eval_.atol)
    _check(0 < eval_.local_share <= 1, "eval.local_share", eval_.local_share, "must be a share in (0, 1]")
    _check(
        0 < eval_.converged_r2 <= 1,
        "eval.converged_r2",
        eval_.converged_r2,
        "must be in (0, 1]: the test R² a converged network reaches",
    )
    _check_positive_int("eval.best_of_last", eval_.best_of_last)  # more than train.epochs: every epoch
    validate_tracking(tracking)


def validate_tracking(tracking: TrackingConfig) -> TrackingConfig:
    _check(bool(tracking.experiment.strip()), "tracking.experiment", tracking.experiment, "must be a non-empty name")
    return tracking


def validate_run(run: RunConfig) -> RunConfig:
    validate_shared(run.data, run.train, run.eval, run.tracking)
    validate_model(run.model, run.train)
    validate_target(run.target, "target", run.data.x_size)
    return run


def validate_pipeline(pipeline: PipelineConfig) -> PipelineConfig:
    validate_shared(pipeline.data, pipeline.train, pipeline.eval, pipeline.tracking)
    validate_model(pipeline.model, pipeline.train)
    _check(bool(pipeline.targets), "targets", {}, "list at least one target")
    for name, target in pipeline.targets.items():
        _check(target.name == name, f"targets.{name}.name", target.name, f"must equal its key {name!r}")
        validate_target(target, f"targets.{name}", pipeline.data.x_size)
    return pipeline


def _to_object(cfg: DictConfig | ListConfig, schema: type) -> Any:
    """Merge onto the schema and build the dataclasses; type errors become one-line ConfigErrors."""
    try:
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), cfg))
    except OmegaConfBaseException as error:
        key = error.full_key or "config"
        message = str(error.msg).splitlines()[0] if error.msg else type(error).__name__
        raise ConfigError(f"{key}: {message}") from None


def to_run_config(cfg: DictConfig) -> RunConfig:
    """The Hydra door's composed config, typed and validated."""
    return validate_run(_to_object(cfg, RunConfig))


def to_tracking_config(cfg: DictConfig) -> TrackingConfig:
    """Just the store and experiment of a composed config: a sweep opens its parent run from these before
    any job's config is checked."""
    return validate_tracking(_to_object(OmegaConf.create({"tracking": cfg.tracking}), _TrackingOnly).tracking)


@dataclass
class _TrackingOnly:
    tracking: TrackingConfig = field(default_factory=TrackingConfig)


def load_params(params_path: Path) -> DictConfig:
    """params.yaml as written (it may be edited by hand): a file that is not YAML is one line naming where."""
    path = Path(params_path)
    if not path.is_file():
        raise ConfigError(f"{path} not found: compose it from conf/ with `python -m pipeline.stages.compose`")
    try:
        loaded = OmegaConf.load(path)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or type(error).__name__
        raise ConfigError(
            f"{path} is not valid YAML{where} ({problem}): fix it, or compose it anew with `python -m pipeline.stages.compose`"
        ) from None
    if not isinstance(loaded, DictConfig):
        raise ConfigError(f"{path} must be a mapping of settings: compose it anew with `python -m pipeline.stages.compose`")
    return loaded


def load_pipeline_config(params_path: Path) -> PipelineConfig:
    """The DVC door: params.yaml, typed and validated."""
    return validate_pipeline(_to_object(load_params(params_path), PipelineConfig))


def to_plain(config: Any, resolve: bool = True) -> dict[str, Any]:
    """A config (a dataclass, or one Hydra composed) as plain YAML-able values, enums as their names;
    interpolations resolved unless `resolve` is False (for a config that may not resolve)."""
    container = config if isinstance(config, (DictConfig, ListConfig)) else OmegaConf.structured(config)
    plain = OmegaConf.to_container(container, resolve=resolve, enum_to_str=True)
    if not isinstance(plain, dict):
        raise ConfigError(f"a configuration must be a mapping of settings, not {type(plain).__name__}")
    return {str(key): value for key, value in plain.items()}


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'train': {'lr': 0.003}} -> {'train.lr': 0.003}: the keys users type as overrides."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat
