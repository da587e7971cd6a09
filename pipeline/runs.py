"""The store's runs, mended by hand: runs left RUNNING by processes killed outright closed, and runs kept by
jobs whose store went away recorded.

    python -m pipeline.runs repair [--tracking-uri URI] [--experiment NAME]
    python -m pipeline.runs record FOLDER... [--tracking-uri URI]

`repair`: every run, sweep and `dvc repro` stage already does this when it opens the store
(tracking.owners); this is the same, for a store nobody is about to record into. The store is the doors'
own (tracking.uri, else $MLFLOW_TRACKING_URI, else the project's sqlite store) and the experiment
conf/tracking's, unless given. Only runs whose owner was a process of this host are judged. It creates no
store and no experiment. One line per run it closed.

`record`: every run a job kept in its folder (`<job dir>/unrecorded/`, tracking.unrecorded) at or under
the FOLDERs (a job's folder, or a whole sweep's), copied into the store it was meant for (or
--tracking-uri, which a store whose URI held a password needs), under its sweep's parent. One line per run.

Exit 0; a store it cannot reach is one line and exit 2, as in the doors.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from omegaconf import OmegaConf

from pipeline.config import CONF_DIR
from pipeline.environment import Environment
from pipeline.errors import ConfigError
from pipeline.failures import FailurePath
from pipeline.redaction import redact

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
    record = commands.add_parser("record", help="record the runs jobs kept when their store went away")
    record.add_argument("folders", nargs="+", type=Path, help="job or sweep folders (Hydra's output folders)")
    record.add_argument("--tracking-uri", default=None, help="the store (default: the one each run was meant for)")
    args = parser.parse_args(argv)
    with FailurePath(RERUN_HINT):
        if args.command == "repair":
            print(redact(repair_store(args.tracking_uri, args.experiment or default_experiment())))
        else:
            print(record_kept_runs(args.folders, args.tracking_uri, Environment.read()))


def record_kept_runs(folders: list[Path], uri: str | None, environment: Environment) -> str:
    """Copy every kept run at or under `folders` into `uri`, else the store it was meant for, else (that one's
    password not being kept) $MLFLOW_TRACKING_URI; what it did."""
    from pipeline.tracking.unrecorded import kept_folders, record_kept

    missing = [str(folder) for folder in folders if not folder.is_dir()]
    if missing:
        raise ConfigError(f"no such folder: {', '.join(missing)}: give job or sweep folders (Hydra's output folders)")
    lines = []
    for folder in kept_folders(folders):
        recorded = record_kept(folder, uri, environment.mlflow_tracking_uri)
        into = "completed run" if recorded.completed else "new run"
        lines.append(f"recorded {folder} into {recorded.store_uri}: {into} {recorded.run_id}")
    return "\n".join(lines) or f"no kept runs under {', '.join(map(str, folders))}: nothing to record"


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
    closed = close_runs_of_dead_owners(Store(uri, found.experiment_id, experiment))
    if not closed:
        return f"{uri}, experiment {experiment!r}: every RUNNING run of this host has its process alive"
    return "\n".join(f"marked KILLED: run {run.run_id} ({run.name}): {dead_owner_reason(run.owner)}" for run in closed)


if __name__ == "__main__":
    main()
