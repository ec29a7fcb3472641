"""`python -m zoo.cli`: the `zoo` command."""

from zoo.cli import entry

entry()
