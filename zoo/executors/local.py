"""The `local` executor, a built-in plugin: the jobs one after another in this process, or, with `--jobs N`,
in N worker processes (zoo.executors.processes)."""

from __future__ import annotations

import zoo
from zoo.sweep import Emit, Job, Outcome, run_here


class Local:
    """One job after another in this process (settings, registry and prepared data built once for all)."""

    def run(self, jobs: list[Job], emit: Emit) -> list[Outcome]:
        return run_here(jobs, emit)


def build(jobs: int = 1, gpus_per_job: float | None = None):
    """Local() for one job at a time; Processes for several, or for a share of a GPU each."""
    if jobs == 1 and gpus_per_job is None:
        return Local()
    from zoo.executors.processes import Processes

    return Processes(jobs, 1.0 if gpus_per_job is None else gpus_per_job)


@zoo.hookimpl
def register_executors(register):
    register(
        zoo.ExecutorSpec(
            "local",
            "this machine: one job after another, or --jobs N worker processes (--gpus-per-job)",
            build,
            defaults={"jobs": 1, "gpus_per_job": None},
        )
    )
