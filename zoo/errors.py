"""The one exception type the CLI prints as a single line, without a traceback."""


class ZooError(Exception):
    """A problem the user can fix: the message names the thing and what to do."""


class ZooWarning(UserWarning):
    """Something the user should know that does not stop the work; the CLI prints it in one line."""
