"""The one exception type the CLI prints as a single line, without a traceback."""


class ZooError(Exception):
    """A problem the user can fix: the message names the thing and what to do."""
