"""What the CLI prints besides tables of its own: the consoles, one-line warnings, waiting notes, number
columns, and the plugins that failed to load."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Column

from zoo.errors import ZooWarning

console = Console(soft_wrap=True)  # long paths and messages stay on one line (grep-able)
err_console = Console(stderr=True, soft_wrap=True)


def warn(text: str, where: str = "") -> None:
    """One warning line on stderr: `warning: text`, or `warning (where): text`."""
    label = f"warning ({where}):" if where else "warning:"
    err_console.print(f"[yellow]{label}[/] {escape(text)}", highlight=False, soft_wrap=True)


def show_warning(message, category, filename, lineno, file=None, line=None):
    """Every warning in one line: the zoo's as they are, other libraries' with the library that gave it
    (not Python's two lines with the source line of a file the user never opened)."""
    if issubclass(category, ZooWarning):
        warn(str(message))
    else:
        parts = Path(filename).parts
        library = parts[parts.index("site-packages") + 1] if "site-packages" in parts else Path(filename).stem
        warn(" ".join(str(message).split()), f"{library}, {category.__name__}")


def say_waiting(what: str) -> None:
    err_console.print(
        f"waiting: {what}; this process goes on when it is done.", highlight=False, soft_wrap=True
    )


def number(header: str) -> Column:
    return Column(header, justify="right", no_wrap=True)


def warn_broken(registry) -> None:
    for p in registry.plugins:
        if p.error:
            warn(f"plugin {p.name!r} ({p.source}) skipped: {p.error}")
