"""A sweep as jobs: one small, picklable Job per (model or variant, fold, seed); executing one rebuilds what
it needs (zoo.project.Project: once per process) and writes its run folder (zoo.runs). An executor
(zoo.executors) runs a list of jobs and reports progress as typed events; the CLI only draws them.

Example (a sweep without the CLI)::

    from zoo.executors import Processes
    from zoo.sweep import Source, plan_sweep, run_sweep
    source = Source.from_registry("registry.toml", {"protocol.seeds": 3})
    outcomes = run_sweep(plan_sweep(source), executor=Processes(jobs=2))  # job, run id, metrics, error
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

from zoo.errors import ZooError
from zoo.settings import load_settings


@dataclass(frozen=True)
class Started:
    """A job's run is under way, or was found finished (`finished`), damaged or resumable."""

    job: str
    run_id: str
    run_dir: str
    pid: int  # the process that runs it (an executor's worker)
    gpus: str | None  # the GPUs an executor gave it (CUDA_VISIBLE_DEVICES), if any
    finished: bool
    resuming: bool
    damaged: str | None
    epochs: int
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Epoch:
    job: str
    row: dict  # the history row (zoo.train.trainer): epoch, losses, validation scores, best, seconds...


@dataclass(frozen=True)
class Trial:
    job: str
    number: int  # its place in the run's budget, from 0
    of: int
    state: str  # complete | pruned | fail
    score: float | None
    epochs: int
    params: dict


@dataclass(frozen=True)
class Waiting:
    job: str
    what: str  # what another zoo process is doing while this one waits for it


@dataclass(frozen=True)
class Done:
    job: str
    run_id: str
    metrics: dict


@dataclass(frozen=True)
class Failed:
    job: str
    run_id: str
    error: str


Event = Started | Epoch | Trial | Waiting | Done | Failed
Emit = Callable[[Event], None]


@dataclass(frozen=True)
class Source:
    """Where a sweep's settings come from: a registry.toml and the command line's overrides (as JSON, so
    that a Source is hashable and picklable)."""

    registry_file: str
    overrides_json: str = "{}"

    @classmethod
    def from_registry(cls, registry_file: str | Path, overrides: dict | None = None) -> "Source":
        return cls(str(Path(registry_file).resolve()), json.dumps(overrides or {}, sort_keys=True))

    def project(self):
        """This process's zoo.project.Project of these settings: built on first use and kept (see forget)."""
        return _project(self)


@lru_cache(maxsize=4)
def _project(source: Source):
    from zoo.project import Project

    return Project(load_settings(Path(source.registry_file), json.loads(source.overrides_json)))


def forget() -> None:
    """Read settings, plugins and data afresh on the next use of a Source (they changed on disk)."""
    _project.cache_clear()


@dataclass(frozen=True)
class Job:
    source: Source
    model: str
    fold: int = 1
    seed: int = 0
    folds: int = 1
    seeds: int = 1
    force: bool = False

    @property
    def label(self) -> str:
        """baseline_cnn (fold 2/5, seed 1): which run of a sweep, when there are several."""
        parts = ([f"fold {self.fold}/{self.folds}"] if self.folds > 1 else []) + (
            [f"seed {self.seed}"] if self.seeds > 1 else []
        )
        return self.model + (f" ({', '.join(parts)})" if parts else "")


@dataclass
class Outcome:
    job: Job
    run_id: str = ""
    run_dir: str = ""
    metrics: dict | None = None
    error: str = ""  # why it failed; "" when it finished
    finished_before: bool = False  # a finished run with this exact config was there already
    notes: list[str] = field(default_factory=list)


def plan_sweep(source: Source, models: list[str] | None = None, force: bool = False) -> list[Job]:
    """Every (fold, model, seed) of the sweep the settings describe, folds outermost (as `zoo run`)."""
    from zoo.runs.plan import model_params, run_seeds

    project = source.project()
    settings = project.settings
    names = list(settings.models) if models is None else models
    for name in names:
        model_params(settings, project.registry, name)  # unknown names and options fail before any work
    if settings.tuning.trials:
        from zoo.train.tuning import require_optuna

        require_optuna()
    seeds = run_seeds(settings.protocol)
    folds = settings.protocol.folds
    return [
        Job(source, name, fold, seed, folds, len(seeds), force)
        for fold in range(1, folds + 1)
        for name in names
        for seed in seeds
    ]


def plan_of(job: Job):
    """The job's RunPlan (its run id and folder), as zoo.runs.plan plans it."""
    from zoo.runs.plan import plan_run

    return plan_run(job.source.project(), job.model, job.fold, job.seed)


def run_job(job: Job, emit: Emit = lambda event: None) -> Outcome:
    """Execute one job in this process: its run folder written (or found finished), events emitted."""
    from zoo.runs.execute import Listener, RunFailed, execute

    plan = plan_of(job)
    outcome = Outcome(job, plan.run_id, str(plan.run_dir), notes=list(plan.config["notes"]))

    def start(found):  # what the run's folder held, seen under its lock
        outcome.finished_before = found["finished"]
        gpus = os.environ.get("CUDA_VISIBLE_DEVICES")
        where = (job.label, plan.run_id, str(plan.run_dir), os.getpid(), gpus)
        emit(Started(*where, **found, epochs=plan.protocol.epochs, notes=tuple(outcome.notes)))

    listener = Listener(
        start=start,
        epoch=lambda row: emit(Epoch(job.label, row)),
        trial=lambda trial: emit(Trial(job.label, **trial)),
        waiting=lambda what: emit(Waiting(job.label, what)),
    )
    try:
        outcome.metrics = execute(plan, job.source.project(), force=job.force, listener=listener)
    except RunFailed as exc:
        outcome.error = str(exc)
        emit(Failed(job.label, plan.run_id, outcome.error))
        return outcome
    emit(Done(job.label, plan.run_id, outcome.metrics))
    return outcome


def run_sweep(jobs: list[Job], emit: Emit = lambda event: None, executor=None) -> list[Outcome]:
    """Run `jobs` on `executor` (default: here, one after another) and return their Outcomes, in order. Each
    data set's cache is prepared here first, once, so that no two jobs build it. A job that fails (it raises,
    or its process or worker dies) is an Outcome with its error and failed.json in its run folder; the
    others go on."""
    for source in dict.fromkeys(job.source for job in jobs):
        source.project().prepared()
    return executor.run(jobs, emit) if executor is not None else run_here(jobs, emit)


def run_here(jobs: list[Job], emit: Emit) -> list[Outcome]:
    """The jobs one after another in this process; one that cannot start (its data gone) fails alone."""
    outcomes = []
    for job in jobs:
        try:
            outcomes.append(run_job(job, emit))
        except ZooError as exc:
            outcomes.append(record_lost_job(job, str(exc), emit))
    return outcomes


def run_reporting(job: Job, emit: Emit) -> Outcome:
    """run_job in an executor's worker: an error outside the run's own (the data gone, a plugin that will not
    import) is recorded as the job's failure too, never raised."""
    try:
        return run_job(job, emit)
    except Exception as exc:
        return record_lost_job(job, f"{type(exc).__name__}: {' '.join(str(exc).split())}", emit)


def record_lost_job(job: Job, error: str, emit: Emit) -> Outcome:
    """A job that could not report its own failure (its process died): recorded in failed.json."""
    try:
        plan = plan_of(job)
    except ZooError:
        plan = None
    run = f"run {plan.run_id} " if plan else ""
    error = f"{job.label}: {run}failed: {error}"  # as a run's own failure reads (RunFailed)
    outcome = Outcome(job, plan.run_id if plan else "", str(plan.run_dir) if plan else "", error=error)
    from zoo.runs.folder import FAILED, record_failure

    if plan is not None and not (plan.run_dir / FAILED).is_file():
        plan.run_dir.mkdir(parents=True, exist_ok=True)
        record_failure(plan, plan.run_dir, error)
    emit(Failed(job.label, outcome.run_id, error))
    return outcome
