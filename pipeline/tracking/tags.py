"""The MLflow tags the project writes and reads back: one name each, for the runs, the sweep callback and
the sweep summary."""

FAILURE_TAG = "failure.reason"  # why a FAILED or KILLED run did not finish
FAILURE_EPOCH_TAG = "failure.epoch"  # the epoch a training diverged in
PARENT_TAG = "mlflow.parentRunId"  # MLflow's own: the UI nests a run under this parent
JOB_TAG = "sweep.job"
OVERRIDES_TAG = "sweep.overrides"
OVERRIDE_TAG_PREFIX = "override."  # one tag per override: filter and group the UI by any swept key
# The process that owns a run while it is RUNNING (tracking/owners.py): its host, pid and the pid's start time.
OWNER_HOST_TAG = "owner.host"
OWNER_PID_TAG = "owner.pid"
OWNER_STARTED_TAG = "owner.started"
