"""Runs left RUNNING by processes killed outright, closed by hand:

    python -m pipeline.runs repair [--tracking-uri URI] [--experiment NAME]

Every run, sweep and `dvc repro` stage already does this when it opens the store (tracking.owners); this
is the same, for a store nobody is about to record into. The store is the doors' own (tracking.uri, else
$MLFLOW_TRACKING_URI, else the project's sqlite store) and the experiment conf/tracking's, unless given.
Only runs whose owner was a process of this host are judged. It creates no store and no experiment. Exit
0, one line per run it closed; a store it cannot reach is one line and exit 2, as in the doors.
"""

from __future__ import annotations

import argparse

from omegaconf import OmegaConf

from pipeline.config import CONF_DIR
from pipeline.environment import Environment
from pipeline.failures import FailurePath

RERUN_HINT = "run it again"


def default_experiment() -> str:
    """conf/tracking/default.yaml's experiment: the doors' own."""
    return str(OmegaConf.load(CONF_DIR / "tracking" / "default.yaml").experiment)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipeline.runs", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    repair = commands.add_parser("repair", help="mark KILLED the RUNNING runs whose process on this host is gone")
    repair.add_argument("--tracking-uri", default=None, help="the store (default: the doors' own)")
    repair.add_argument("--experiment", default=None, help="the experiment (default: conf/tracking's)")
    args = parser.parse_args(argv)
    with FailurePath(RERUN_HINT):
        print(repair_store(args.tracking_uri, args.experiment or default_experiment()))


def repair_store(configured_uri: str | None, experiment: str) -> str:
    """Close the runs of the store's experiment that this host's killed processes left RUNNING; what it did."""
    from mlflow.tracking import MlflowClient

    from pipeline.tracking.owners import close_runs_of_dead_owners, dead_owner_reason
    from pipeline.tracking.store import Store, check_reachable, resolve_tracking_uri

    uri = resolve_tracking_uri(configured_uri, Environment.read())
    check_reachable(uri)
    found = MlflowClient(tracking_uri=uri).get_experiment_by_name(experiment)
    if found is None:
        return f"{uri} has no experiment {experiment!r}: nothing to repair"
    closed = close_runs_of_dead_owners(Store(uri, found.experiment_id))
    if not closed:
        return f"{uri}, experiment {experiment!r}: every RUNNING run of this host has its process alive"
    return "\n".join(f"marked KILLED: run {run.run_id} ({run.name}): {dead_owner_reason(run.owner)}" for run in closed)


if __name__ == "__main__":
    main()
