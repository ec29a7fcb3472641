"""Where a sweep's jobs run. An executor is an object with `run(jobs, emit) -> outcomes` (zoo.sweep), built
by the ExecutorSpec a plugin registers (`register_executors`); `zoo run --executor NAME` finds it in the
registry. Built in: `local` (here, or `--jobs N` processes); `ray` is a plugin (plugins/ray_executor.py).

Example::

    from zoo.executors import Processes
    outcomes = run_sweep(plan_sweep(source), executor=Processes(jobs=2))
"""

from __future__ import annotations

from typing import Protocol

from zoo.errors import ZooError
from zoo.executors.local import Local
from zoo.executors.processes import Processes
from zoo.specs import merge_options
from zoo.sweep import Emit, Job, Outcome


class Executor(Protocol):
    def run(self, jobs: list[Job], emit: Emit) -> list[Outcome]: ...


def build_executor(registry, name: str, given: dict):
    """The executor NAME of the registry, built with the options `given` (checked against its defaults as a
    model's params are: an option it does not take is an error naming it)."""
    spec = registry.executor(name)
    unknown = sorted(set(given) - set(spec.defaults))
    if unknown:
        known = ", ".join("--" + k.replace("_", "-") for k in spec.defaults) or "none"
        option = "--" + unknown[0].replace("_", "-")
        raise ZooError(f"{option} is not an option of the {name} executor (its options: {known}).")
    options = merge_options(spec.defaults, given, f"--executor {name}")
    try:
        return spec.build(**options)
    except ZooError:
        raise
    except Exception as exc:
        plugin = registry.plugin_of("executor", name)
        raise ZooError(
            f"executor {name!r} (plugin {plugin!r}) failed to start: {type(exc).__name__}: {exc}"
        ) from exc


__all__ = ["Executor", "Local", "Processes", "build_executor"]
