from __future__ import annotations

import dataclasses

import pytest
import yaml
from omegaconf import OmegaConf

from hydra_plugins.toy_ann_lab import conf_digest
from pipeline.config import (
    Activation,
    Coefficients,
    ConfigError,
    Dataset,
    Function,
    Optimizer,
    Space,
    flatten,
    load_params,
    load_pipeline_config,
    to_plain,
)
from pipeline.stages import compose
from pipeline.stages.compose import check_params_current, compose_pipeline


def test_default_run_is_the_posts_sum_at_the_posts_settings(run_config):
    run = run_config()

    assert run.target.name == "sum" and run.target.dataset is Dataset.gaussian
    assert (run.data.seed, run.data.x_size, run.data.n_train, run.data.n_test) == (42, 5, 100_000, 10_000)
    assert (run.train.epochs, run.train.batch_size, run.train.lr) == (1000, 128, 0.003)
    assert run.eval.atol == 0.001 and run.tracking.experiment == "toy-ann"


def test_product_target_selects_gamma_data_in_log_space(run_config):
    run = run_config("target=product")
    assert (run.target.dataset, run.target.space, run.target.coefficients) == (Dataset.gamma, Space.log, Coefficients.ones)


def test_overrides_reach_the_typed_config(run_config):
    run = run_config("target=weighted_sum", "train.epochs=50", "train.lr=0.01", "data.x_size=3", "model.seed=7")
    assert (run.train.epochs, run.train.lr, run.data.x_size, run.model.seed) == (50, 0.01, 3, 7)


@pytest.mark.parametrize(
    "override, key",
    [
        ("data.n_train=0", "data.n_train"),
        ("data.n_test=-5", "data.n_test"),
        ("data.x_size=0", "data.x_size"),
        ("train.epochs=0", "train.epochs"),
        ("train.batch_size=0", "train.batch_size"),
        ("train.batch_size=200000", "train.batch_size"),
        ("train.lr=0", "train.lr"),
        ("train.lr=-0.1", "train.lr"),
        ("train.lr=inf", "train.lr"),
        ("eval.atol=0", "eval.atol"),
        ("data.gamma.shape=0", "data.gamma.shape"),
        ("data.gaussian.scale=-1", "data.gaussian.scale"),
        ("target.coefficients=cubic", "target.coefficients"),
        ("target.dataset=gaussian", "target.dataset"),
        ("data.seed=-1", "data.seed"),
        ("model.seed=4294967296", "model.seed"),
        ("data.n_train=30000000", "data.n_train"),
        ("train.inits=0", "train.inits"),
        ("model.seed=4294967295", "model.seed"),
        ("model.width=0", "model.width"),
        ("model.width=-3", "model.width"),
        ("model.activation=tanh", "model.activation"),
        ("model.negative_slope=1", "model.negative_slope"),
        ("model.negative_slope=-0.1", "model.negative_slope"),
        ("train.optimizer=rmsprop", "train.optimizer"),
        ("train.momentum=1", "train.momentum"),
        ("train.momentum=-0.5", "train.momentum"),
        ("eval.local_share=0", "eval.local_share"),
        ("target.inputs=6", "target.inputs"),
        ("target.inputs=2", "target.inputs"),
    ],
)
def test_bad_value_fails_with_one_line_naming_the_key(run_config, override, key):
    overrides = {
        "target.dataset": ["target=product"],
        "model.seed": ["train.inits=2"],
        "target.inputs": ["target=max2"] if override.endswith("=6") else [],
    }.get(key, [])
    with pytest.raises(ConfigError) as error:
        run_config(*overrides, override)

    message = str(error.value)
    assert key in message and "\n" not in message


def test_an_unknown_coefficient_rule_names_the_rules_there_are(run_config):
    with pytest.raises(ConfigError) as error:
        run_config("target.coefficients=cubic")

    assert str(error.value) == "target.coefficients: Invalid value 'cubic', expected one of [ones, drawn, mean]"


def test_product_on_gaussian_data_names_the_fix(run_config):
    with pytest.raises(ConfigError, match=r"use target\.dataset=gamma"):
        run_config("target=product", "target.dataset=gaussian")


def test_wrong_type_and_unknown_key_fail_with_one_line(run_config):
    with pytest.raises(ConfigError, match=r"^train\.lr: .*could not be converted"):
        run_config("train.lr=fast")
    with pytest.raises(ConfigError, match=r"^train\.nesterov: "):
        run_config("+train.nesterov=true")
    with pytest.raises(ConfigError, match=r"^target\.dataset: "):
        run_config("target.dataset=uniform")


def test_committed_params_yaml_is_conf_pipeline_composed(project_root):
    committed = yaml.safe_load((project_root / "params.yaml").read_text())
    assert committed == compose_pipeline()


def test_pipeline_config_gives_each_target_the_shared_settings(project_root):
    pipeline = load_pipeline_config(project_root / "params.yaml")

    assert list(pipeline.targets) == ["sum", "weighted_sum", "product"]
    run = pipeline.run_config("product")
    assert run.target.space is Space.log and run.train == pipeline.train and run.data == pipeline.data


def write_params(tmp_path, key: str, value) -> None:
    """params.yaml as conf/ composes it, with one value changed."""
    params = OmegaConf.create(compose_pipeline())
    OmegaConf.update(params, key, value)
    (tmp_path / "params.yaml").write_text(OmegaConf.to_yaml(params))


def test_pipeline_config_rejects_bad_params_with_the_same_message_as_the_hydra_door(tmp_path, run_config):
    write_params(tmp_path, "train.lr", -1.0)

    with pytest.raises(ConfigError) as dvc_door:
        load_pipeline_config(tmp_path / "params.yaml")
    with pytest.raises(ConfigError) as hydra_door:
        run_config("train.lr=-1")

    assert str(dvc_door.value) == str(hydra_door.value) == "train.lr=-1.0 is not allowed: must be a positive finite number"


def test_pipeline_target_name_must_match_its_key(tmp_path):
    write_params(tmp_path, "targets.sum.name", "total")

    with pytest.raises(ConfigError, match=r"targets\.sum\.name='total'"):
        load_pipeline_config(tmp_path / "params.yaml")


def test_missing_params_file_says_how_to_make_it(tmp_path):
    with pytest.raises(ConfigError, match=r"compose it from conf/ with `python -m pipeline\.stages\.compose`"):
        load_pipeline_config(tmp_path / "params.yaml")


def test_unknown_pipeline_target_lists_the_known_ones(project_root):
    pipeline = load_pipeline_config(project_root / "params.yaml")
    with pytest.raises(ConfigError, match="product, sum, weighted_sum"):
        pipeline.run_config("cube")


def test_flat_params_use_the_keys_users_type(run_config):
    flat = flatten(to_plain(run_config("target=product")))

    assert flat["train.lr"] == 0.003 and flat["target.dataset"] == "gamma" and flat["tracking.uri"] is None
    assert set(flat) >= {"data.seed", "data.n_train", "model.seed", "train.epochs", "eval.atol", "tracking.experiment"}


def test_a_new_linear_target_is_just_a_config_file(run_config):
    """conf/target/geometric_mean.yaml: an existing rule (mean) in log space, no code."""
    run = run_config("target=geometric_mean")
    assert dataclasses.asdict(run.target) == {
        "name": "geometric_mean",
        "dataset": Dataset.gamma,
        "space": Space.log,
        "coefficients": Coefficients.mean,
        "function": Function.affine,
        "inputs": None,
        "exact_width": 1,
        "post_test_mse": None,
    }


# conf/pipeline.yaml composed, written out by hand: the post's settings, its three targets, the DVC paths.
PIPELINE_PARAMS = {
    "data.seed": 42,
    "data.x_size": 5,
    "data.n_train": 100_000,
    "data.n_test": 10_000,
    "data.gaussian.loc": 0.0,
    "data.gaussian.scale": 1.0,
    "data.gamma.shape": 1.0,
    "data.gamma.scale": 1.0,
    "model.seed": 42,
    "model.width": 1,
    "model.activation": "relu",
    "model.negative_slope": 0.3,
    "train.engine": "compiled",
    "train.inits": 1,
    "train.replicates": 1,
    "train.epochs": 1000,
    "train.batch_size": 128,
    "train.lr": 0.003,
    "train.optimizer": "sgd",
    "train.momentum": 0.9,
    "train.dtype": "float32",
    "eval.atol": 0.001,
    "eval.local_share": 0.99,
    "eval.best_of_last": 100,
    "eval.converged_r2": 0.999,
    "tracking.uri": None,
    "tracking.experiment": "toy-ann",
    **{
        f"targets.{name}.{key}": value
        for name, target in {
            "sum": {"dataset": "gaussian", "space": "linear", "coefficients": "ones", "post_test_mse": 1.1352584577239452e-4},
            "weighted_sum": {
                "dataset": "gaussian",
                "space": "linear",
                "coefficients": "drawn",
                "post_test_mse": 1.0311098776760997e-4,
            },
            "product": {"dataset": "gamma", "space": "log", "coefficients": "ones", "post_test_mse": 7.516e-9},
        }.items()
        for key, value in {"name": name, **target, "function": "affine", "inputs": None, "exact_width": 1}.items()
    },
    **{f"paths.{key}": key for key in ("data", "models", "metrics", "plots", "reports", "evaluations")},
}


def test_params_written_by_compose_are_the_posts_settings_and_pass_the_staleness_check(tmp_path, monkeypatch, capsys):
    params_file = tmp_path / "params.yaml"
    monkeypatch.setattr(compose, "PARAMS_FILE", params_file)

    compose.main()  # `python -m pipeline.stages.compose`
    params = OmegaConf.to_container(OmegaConf.load(params_file))  # as a stage reads it back

    assert flatten(params) == PIPELINE_PARAMS | {"conf_digest": conf_digest()}
    assert list(params["targets"]) == ["sum", "weighted_sum", "product"]
    check_params_current(params)
    assert capsys.readouterr().out == f"wrote {params_file} from conf/pipeline.yaml\n"


def test_params_edited_by_hand_pass_the_staleness_check_which_compares_only_conf_digests():
    """`dvc exp apply` and a hand edit change params.yaml's values, not its conf_digest: `dvc repro` runs on
    them. An edit to conf/ not composed is refused (tests/doors/test_stages.py)."""
    params = compose_pipeline()
    params["train"]["epochs"] = 7

    check_params_current(params)


def test_several_initialisations_need_the_compiled_engine(run_config):
    assert run_config("train.inits=64").train.inits == 64
    with pytest.raises(ConfigError, match=r"train\.inits=2 is not allowed: more than 1 needs train\.engine=compiled"):
        run_config("train.inits=2", "train.engine=keras")


def test_a_params_yaml_that_is_not_yaml_is_one_line_naming_where(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("train:\n  lr: 0.003\n  epochs: [1000\n")

    with pytest.raises(ConfigError) as error:
        load_params(params)

    assert str(error.value).startswith(f"{params} is not valid YAML at line ")
    assert "\n" not in str(error.value) and "python -m pipeline.stages.compose" in str(error.value)


@pytest.mark.parametrize("target, width", [("relu_sum", 1), ("abs_sum", 2), ("max2", 3)])
def test_the_exact_networks_study_trains_each_target_at_the_width_its_file_names(run_config, target, width):
    run = run_config("experiment=exact_networks", f"target={target}")
    assert run.model.width == width and run.train.inits == 16 and run.train.optimizer is Optimizer.adam


def test_targets_with_known_networks_are_config_files_naming_their_exact_width(run_config):
    shapes = {name: run_config(f"target={name}").target for name in ("relu_sum", "abs_sum", "max2", "product2")}
    assert {name: (t.function, t.inputs, t.exact_width) for name, t in shapes.items()} == {
        "relu_sum": (Function.relu_of_affine, None, 1),
        "abs_sum": (Function.abs_of_affine, None, 2),
        "max2": (Function.max_of_inputs, 2, 3),
        "product2": (Function.product_of_inputs, 2, None),
    }


def test_the_family_defaults_to_the_posts_network_and_training(run_config):
    run = run_config()
    assert (run.model.width, run.model.activation, run.train.optimizer) == (1, Activation.relu, Optimizer.sgd)
