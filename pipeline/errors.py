"""The failures a user can fix: each message is one line that says what is wrong and what to do."""


class PipelineError(Exception):
    """A failure the user can fix; the doors print its message as one line and exit 2."""


class ConfigError(PipelineError, ValueError):
    """A bad configuration value; the message names the key, the value and what is allowed."""


class TrackingError(PipelineError):
    """The MLflow store could not be reached or written."""
