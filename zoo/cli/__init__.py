"""The `zoo` command: parse arguments, call the core, draw its events and tables. It does not train itself:
each command is a few calls of the Python API (zoo.project, zoo.sweep, zoo.leaderboard, zoo.apply)."""

from __future__ import annotations

import os
import signal
import sys
import warnings

from rich.markup import escape

from zoo.cli.draw import err_console, show_warning
from zoo.cli.parser import parser
from zoo.errors import ZooError, ZooWarning
from zoo.sweep import forget


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the process is, so that what is running cleans up as for Ctrl-C."""


def _on_sigterm(signum, frame):
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    forget()  # one command, one reading of registry.toml, the plugins and the data (main may run again)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    with warnings.catch_warnings():
        warnings.simplefilter("always", ZooWarning)
        warnings.showwarning = show_warning
        try:
            return args.func(args) or 0
        except ZooError as exc:
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            return 2
        except OSError as exc:  # a path the checks before the work could not foresee (/proc/x...)
            if exc.filename is None:
                raise
            err_console.print(
                f"[bold red]error:[/] {escape(str(exc.filename))}: {escape(exc.strerror or str(exc))}: "
                "choose another path, or fix its permissions.",
                highlight=False,
                soft_wrap=True,
            )
            return 2
        except KeyboardInterrupt as exc:
            err_console.print(
                "interrupted: a started run resumes from its last checkpoint when you run it again."
            )
            return 143 if isinstance(exc, Terminated) else 130
        finally:
            signal.signal(signal.SIGTERM, previous)


def entry() -> None:
    """The `zoo` console script. After Ctrl-C or SIGTERM (cleaned up by then: partial writes removed) the
    process ends at once: Python's exit joins worker threads that an interrupt can leave waiting forever,
    and --jobs worker processes die with this one (PR_SET_PDEATHSIG)."""
    code = main()
    if code in (130, 143):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    entry()
