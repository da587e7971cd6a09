"""The failures a user can fix: each message is one line that says what is wrong and what to do."""


class PipelineError(Exception):
    """A failure the user can fix; the doors print its message as one line and exit 2."""


class ConfigError(PipelineError, ValueError):
    """A bad configuration value; the message names the key, the value and what is allowed."""


class TrackingError(PipelineError):
    """The MLflow store could not be reached or written."""


class TrainingDiverged(PipelineError):
    """The loss became NaN or infinite: the weights mean nothing, so the run must not look finished."""

    def __init__(self, message: str, loss_history: list[float]):
        super().__init__(message)
        self.loss_history = loss_history  # up to and including the epoch that diverged

    @property
    def epoch(self) -> int:
        return len(self.loss_history)


class DataError(PipelineError):
    """A stage's input file is missing or not what the generate stage writes; the message says how to write it again."""


class DiskFull(PipelineError):
    """A file system the work writes to has no room left: a rerun fails the same way until space is freed or
    the work writes elsewhere, so the message names the place and both fixes."""
