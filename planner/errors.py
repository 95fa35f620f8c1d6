"""The one exception the CLI turns into a one-line message and exit code 2."""


class PlannerError(Exception):
    """Bad input or infrastructure: the message is shown as is, on one line."""
