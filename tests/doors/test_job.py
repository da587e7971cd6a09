"""The Hydra door's job: its store is chosen before any work (in a sweep, only one every node reaches); it
records one run from before its training to after its evaluation, on the data it draws in memory; and any
config a user can type either trains to a result whose numbers are all finite, or stops with one line the
user can act on (a ConfigError, or another PipelineError such as a divergence)."""

from __future__ import annotations

import math
import socket
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from mlflow.data.numpy_dataset import from_numpy
from mlflow.tracking import MlflowClient

from pipeline.config import RunConfig
from pipeline.core.draws import draw_post_stream
from pipeline.core.targets import target_problem
from pipeline.environment import Environment
from pipeline.errors import ConfigError, PipelineError, TrackingError
from pipeline.failures import FailurePath
from pipeline.job import check_this_host_reaches, job_store, run_target
from pipeline.run import RERUN_HINT
from pipeline.tracking.runs import open_store
from pipeline.tracking.store import Store
from pipeline.tracking.sweep import SweepJob, SweepParent
from tests.helpers import TINY, recorded_runs

# Values that train in well under a second, so most examples reach training and evaluation.
USUAL = {
    "target": st.sampled_from(["sum", "weighted_sum", "product", "geometric_mean"]),
    "train.engine": st.sampled_from(["compiled", "keras"]),
    "data.x_size": st.integers(1, 6),
    "data.n_train": st.integers(1, 200),
    "data.n_test": st.integers(1, 40),
    "train.epochs": st.integers(1, 3),
    "train.batch_size": st.integers(1, 200),
    "train.lr": st.floats(1e-4, 0.1),
    "eval.atol": st.floats(1e-6, 1.0),
    "data.gamma.shape": st.floats(0.1, 10.0),
}
# Values typed by mistake or to probe: zero, negative, fractional, too large, subnormal, nan, inf. No huge
# epoch count (valid: it trains that long). Huge learning rates and gamma shapes are the known bugs below.
BAD_COUNTS = st.sampled_from([0, -1, 1.5, 10**12, 2**64])
NASTY_FLOATS = st.sampled_from([-1.0, -0.0, 0.0, 5e-324, -1e300, math.nan, math.inf, -math.inf])
HOSTILE = {
    "data.x_size": BAD_COUNTS,
    "data.n_train": BAD_COUNTS,
    "data.n_test": BAD_COUNTS,
    "train.epochs": st.sampled_from([0, -1, 1.5]),
    "train.batch_size": BAD_COUNTS,
    "train.lr": NASTY_FLOATS,
    "eval.atol": NASTY_FLOATS | st.sampled_from([1e300, 1.7976931348623157e308]),
    "data.gamma.shape": NASTY_FLOATS,
}


@st.composite
def overrides(draw: st.DrawFn) -> list[str]:
    """Usual values, with up to two keys given hostile ones."""
    values = {key: draw(strategy) for key, strategy in USUAL.items()}
    values["train.batch_size"] = min(values["train.batch_size"], values["data.n_train"])  # usual batches fit
    for key in draw(st.sets(st.sampled_from(sorted(HOSTILE)), max_size=2)):
        values[key] = draw(HOSTILE[key])
    return [f"{key}={value!r}" for key, value in values.items()]


def run_gives_finite_numbers_or_one_line(run_config: Callable[..., RunConfig], out_dir: Path, overrides: Sequence[str]) -> str:
    """Compose, train, evaluate and record as the Hydra door does; any other exception propagates.
    Returns how the run ended: "finished", or the PipelineError's class name."""
    try:
        run = run_config(*overrides)
        _, job = run_target(run, out_dir, Environment.read(), FailurePath(RERUN_HINT))
    except PipelineError as error:
        assert str(error) and "\n" not in str(error)
        return type(error).__name__
    for evaluation in job.evaluations:
        assert all(math.isfinite(value) for value in evaluation.metrics().values()), evaluation.metrics()
    return "finished"


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(overrides=overrides())
def test_any_config_gives_a_finite_result_or_one_line_error(run_config, tmp_path, overrides):
    ending = run_gives_finite_numbers_or_one_line(run_config, Path(tempfile.mkdtemp(dir=tmp_path)), overrides)

    event(ending)  # the share of each ending: pytest --hypothesis-show-statistics


ONE_FULL_BATCH = ("data.n_train=32", "data.n_test=8", "train.epochs=1", "train.batch_size=32")


@pytest.mark.slow
@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param((*ONE_FULL_BATCH, "train.lr=1e300"), id="huge-lr-last-update"),
        pytest.param(
            ("target=product", "data.n_train=256", "data.n_test=64", "train.epochs=2", "train.batch_size=256", "train.lr=2"),
            id="product-lr-2",
        ),
        pytest.param(("target=product", *ONE_FULL_BATCH, "data.gamma.shape=1e6"), id="product-huge-gamma-shape"),
        pytest.param(("target=geometric_mean", *ONE_FULL_BATCH, "data.gamma.shape=1e300"), id="geometric-mean-infinite-mse"),
    ],
)
def test_a_network_that_overflows_stops_as_diverged_with_one_line(run_config, tmp_path, overrides):
    """Found by the property above: the last update of an epoch, and exp() of a far-off log-space network's
    predictions, can overflow where no loss is checked."""
    assert run_gives_finite_numbers_or_one_line(run_config, tmp_path / "out", overrides) == "TrainingDiverged"


def test_a_job_on_another_host_refuses_a_store_only_the_sweeps_host_reaches(monkeypatch):
    monkeypatch.setattr(socket, "gethostname", lambda: "worker-node")
    parent = SweepParent("p", Store("sqlite:////work/mlflow.db", "1", "toy-ann"), "driver-host")

    with pytest.raises(
        TrackingError,
        match=r"runs on worker-node, but its sweep records into sqlite:////work/mlflow\.db, "
        r"which only driver-host reaches: on a cluster, record to an MLflow tracking",
    ):
        check_this_host_reaches(parent)
    check_this_host_reaches(SweepParent("p", Store("http://head-node:5000", "1", "toy-ann"), "driver-host"))  # every node's
    monkeypatch.setattr(socket, "gethostname", lambda: "driver-host")
    check_this_host_reaches(parent)


def test_a_job_on_another_host_fails_before_it_makes_a_store_of_its_own_there(run_config, mlflow_store, monkeypatch, tmp_path):
    monkeypatch.setattr(socket, "gethostname", lambda: "worker-node")
    parent = SweepParent("p", Store(mlflow_store, "1", "toy-ann"), "driver-host")

    with pytest.raises(TrackingError, match="runs on worker-node"):
        job_store(run_config(*TINY), Environment.read(), sweep_job_of(parent))

    assert not Path(mlflow_store.removeprefix("sqlite:///")).exists()


def sweep_job_of(parent: SweepParent) -> SweepJob:
    return SweepJob(parent, number=0, overrides=())


def test_a_job_whose_store_is_not_its_sweeps_is_refused_naming_both(run_config, ready_store, tmp_path):
    parent = SweepParent("p", Store(f"sqlite:///{tmp_path / 'sweep.db'}", "1", "toy-ann"), socket.gethostname())

    with pytest.raises(ConfigError) as error:
        job_store(run_config(*TINY), Environment.read(), sweep_job_of(parent))

    assert f"this job records into {ready_store}, experiment " in str(error.value)
    assert f"but its sweep into {parent.store.uri}, experiment 1" in str(error.value)


def test_a_job_outside_a_sweep_opens_the_store_its_config_and_environment_name(run_config, ready_store):
    store = job_store(run_config(*TINY), Environment.read(), None)

    assert store == open_store(ready_store, "toy-ann")


def test_the_hydra_job_records_one_finished_run_with_its_drawn_data_and_its_model(run_config, tmp_path, ready_store):
    run = run_config(*TINY)
    draws = draw_post_stream(run.data)
    problem = target_problem(run.target, draws.splits[run.target.dataset], draws.coefficients)

    run_id, _ = run_target(run, tmp_path, Environment.read(), FailurePath(RERUN_HINT))

    [recorded] = recorded_runs(ready_store)
    assert (recorded.info.run_id, recorded.info.status) == (run_id, "FINISHED")
    assert recorded.info.end_time - recorded.info.start_time >= recorded.data.metrics["train_seconds"] * 1000
    # drawn in memory, not read from a file DVC tracks: MLflow's own digest of the arrays
    digests = {d.dataset.name: d.dataset.digest for d in recorded.inputs.dataset_inputs}
    assert digests.keys() == {"gaussian-seed42-train", "gaussian-seed42-test"}
    assert digests["gaussian-seed42-train"] == from_numpy(problem.z_train, targets=problem.y_train).digest
    assert len(recorded.outputs.model_outputs) == 1
    assert {"model.keras", "weights.json", "history.json"} <= {p.name for p in tmp_path.iterdir()}  # its Hydra directory


def test_a_diverging_hydra_job_ends_its_run_failed_with_the_loss_streamed_up_to_the_divergence(run_config, tmp_path, ready_store):
    with pytest.raises(SystemExit) as exit_, FailurePath(RERUN_HINT) as failures:
        run_target(run_config(*TINY, "train.lr=50"), tmp_path, Environment.read(), failures)

    assert exit_.value.code == 2
    [recorded] = recorded_runs(ready_store)
    assert recorded.info.status == "FAILED" and recorded.data.tags["failure.epoch"] == "1"
    [loss] = MlflowClient(tracking_uri=ready_store).get_metric_history(recorded.info.run_id, "train_loss")
    assert loss.step == 1 and not math.isfinite(loss.value)
    assert len(recorded.inputs.dataset_inputs) == 2  # the run was open, with its data, before the training
