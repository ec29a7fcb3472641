"""A sweep as jobs: one small, picklable Job per (model or variant, fold, seed); executing one rebuilds what
it needs (settings, registry, the prepared cache, its split) and writes its run folder as zoo.runner does.
An executor runs a list of jobs and reports progress as events; the CLI only draws them.

Example (a sweep without the CLI)::

    from zoo.sweep import Processes, Source, plan_sweep, run_sweep
    source = Source.from_registry("registry.toml", {"protocol.seeds": 3})
    outcomes = run_sweep(plan_sweep(source), executor=Processes(jobs=2))  # job, run id, metrics, error
"""

from __future__ import annotations

import json
import multiprocessing
import os
import queue
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

from zoo.config import load_settings
from zoo.errors import ZooError

Event = dict  # {"job": label, "kind": "start" | "epoch" | "trial" | "waiting" | "done" | "failed", ...}
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

    def load(self):
        """(settings, registry): the settings with the features that fit the data (runner.fit_features)."""
        from zoo.runner import fit_features, with_registry

        overrides = json.loads(self.overrides_json)
        settings, registry = with_registry(load_settings(Path(self.registry_file), overrides))
        return fit_features(settings, registry), registry


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
    from zoo.runner import model_params, run_seeds

    settings, registry = source.load()
    names = list(settings.models) if models is None else models
    for name in names:
        model_params(settings, registry, name)  # unknown names and options fail before any work
    if settings.tuning.trials:
        from zoo.tuning import require_optuna

        require_optuna()
    seeds = run_seeds(settings.protocol)
    folds = settings.protocol.folds
    return [
        Job(source, name, fold, seed, folds, len(seeds), force)
        for fold in range(1, folds + 1)
        for name in names
        for seed in seeds
    ]


@lru_cache(maxsize=4)
def _context(source: Source):
    """What every job of a source shares in one process: settings, registry, the prepared cache (built once
    per data set under its lock: the first job builds it, or finds it built before the sweep started)."""
    from zoo.runner import prepare_data

    settings, registry = source.load()
    return settings, registry, prepare_data(settings, registry)


@lru_cache(maxsize=16)
def _splits(source: Source, fold: int):
    from zoo.runner import split_data

    settings, _, prepared = _context(source)
    return split_data(settings, prepared, fold)


def plan_of(job: Job):
    """The job's RunPlan (its run id and folder), as zoo.runner plans it."""
    from zoo.runner import plan_run

    settings, registry, prepared = _context(job.source)
    return plan_run(
        settings, registry, job.model, prepared, _splits(job.source, job.fold), job.fold, job.seed
    )


def run_job(job: Job, emit: Emit = lambda event: None) -> Outcome:
    """Execute one job in this process: its run folder written (or found finished), events emitted."""
    from zoo.runner import RunFailed, execute

    settings, registry, prepared = _context(job.source)
    plan = plan_of(job)
    outcome = Outcome(job, plan.run_id, str(plan.run_dir), notes=list(plan.config["notes"]))

    def on_start(found):  # what the run's folder held, seen under its lock
        outcome.finished_before = found["finished"]
        emit(
            {
                "job": job.label,
                "kind": "start",
                "run_id": plan.run_id,
                "run_dir": str(plan.run_dir),
                "pid": os.getpid(),  # the process that runs it (an executor's worker)
                "gpus": os.environ.get("CUDA_VISIBLE_DEVICES"),  # the GPUs an executor gave it, if any
                **found,  # finished, resuming, damaged
                "epochs": plan.protocol.epochs,
                "notes": outcome.notes,
            }
        )

    def on_epoch(row):
        emit({"job": job.label, "kind": "epoch", **row})

    def waiting(what):
        emit({"job": job.label, "kind": "waiting", "what": what})

    def on_trial(trial):
        emit({"job": job.label, "kind": "trial", **trial})

    try:
        outcome.metrics = execute(
            plan,
            settings,
            registry,
            prepared,
            _splits(job.source, job.fold),
            force=job.force,
            on_epoch=on_epoch,
            waiting=waiting,
            on_start=on_start,
            on_trial=on_trial,
        )
    except RunFailed as exc:
        outcome.error = str(exc)
        emit({"job": job.label, "kind": "failed", "error": outcome.error, "run_id": plan.run_id})
        return outcome
    emit({"job": job.label, "kind": "done", "run_id": plan.run_id, "metrics": outcome.metrics})
    return outcome


def run_sweep(
    jobs: list[Job], emit: Emit = lambda event: None, executor: Executor | None = None
) -> list[Outcome]:
    """Run `jobs` on `executor` (default Local(): here, one after another) and return their Outcomes, in
    order. Each data set's cache is prepared here first, once, so that no two jobs build it. A job that
    fails (it raises, or its process or worker dies) is an Outcome with its error and failed.json in its run
    folder; the others go on."""
    _context.cache_clear()  # what a job shares is read afresh for each sweep (registry.toml may have changed)
    _splits.cache_clear()
    for source in dict.fromkeys(job.source for job in jobs):
        _context(source)
    return (executor or Local()).run(jobs, emit)


class Executor:
    """Runs a list of jobs, reporting their events through `emit`: one Outcome per job, in order."""

    def run(self, jobs: list[Job], emit: Emit) -> list[Outcome]:
        raise NotImplementedError


class Local(Executor):
    """One job after another in this process."""

    def run(self, jobs: list[Job], emit: Emit) -> list[Outcome]:
        outcomes = []
        for job in jobs:
            try:
                outcomes.append(run_job(job, emit))
            except ZooError as exc:  # e.g. the data went away: this job fails, the sweep goes on
                outcomes.append(_failed(job, str(exc), emit))
        return outcomes


def run_reporting(job: Job, emit: Emit) -> Outcome:
    """run_job in an executor's worker: an error outside the run's own (the data gone, a plugin that will not
    import) is recorded as the job's failure too, never raised."""
    try:
        return run_job(job, emit)
    except Exception as exc:
        return _failed(job, f"{type(exc).__name__}: {' '.join(str(exc).split())}", emit)


def executor_named(
    name: str = "local", jobs: int = 1, gpus_per_job: float | None = None, address: str | None = None
) -> Executor:
    """The executor `zoo run --executor NAME` uses, with its options checked."""
    if name == "ray":
        if jobs != 1:
            raise ZooError("--jobs is for the local executor: Ray runs as many jobs as the cluster holds.")
        if gpus_per_job is not None and gpus_per_job < 0:
            raise ZooError(f"--gpus-per-job {gpus_per_job}: give 0 (no GPU) or more.")
        from zoo.ray_executor import RayExecutor

        return RayExecutor(address, gpus_per_job=gpus_per_job)
    if name != "local":
        raise ZooError(f"--executor {name}: give local or ray.")
    if address:
        raise ZooError("--address is for --executor ray.")
    if jobs == 1 and gpus_per_job is None:
        return Local()
    return Processes(jobs, 1.0 if gpus_per_job is None else gpus_per_job)


def _worker(gpu: str | None, threads: int, tasks, events, results) -> None:
    """A worker process (on GPU `gpu` alone, when given): runs jobs from `tasks` until it takes None, saying
    on `results` which job it starts (so that its death names that job) and each job's outcome. It keeps
    torch, the registry and the prepared cache between jobs."""
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu  # before CUDA starts in this process
    import torch

    from zoo.data.cache import die_with_parent

    die_with_parent()  # Ctrl-C is the driver's to handle (it ends the workers); a killed driver ends them

    torch.set_num_threads(threads)
    while (task := tasks.get()) is not None:
        index, job = task
        results.put(("start", index, os.getpid(), None))
        results.put(("done", index, os.getpid(), run_reporting(job, events.put)))


def visible_gpus() -> list[str]:
    """The CUDA devices this process may use, as CUDA_VISIBLE_DEVICES names them ([] without CUDA)."""
    import torch

    count = torch.cuda.device_count()
    listed = [d.strip() for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    return listed[:count] if listed else [str(i) for i in range(count)]


@dataclass
class Processes(Executor):
    """`jobs` worker processes, each with its share of the CPU threads, taking jobs one after another. On a
    machine with GPUs each worker gets `gpus_per_job` of one GPU (1: a GPU each; 0.25: four share one), and
    there are no more workers than the GPUs hold. A worker that dies (killed, out of memory) names the job
    it was running, which is recorded as failed; a new worker takes its place for the jobs left."""

    jobs: int = 2
    gpus_per_job: float = 1.0

    def __post_init__(self):
        if self.jobs < 1:
            raise ZooError(f"--jobs {self.jobs}: give 1 or more.")
        if not 0 < self.gpus_per_job <= 1:
            raise ZooError(
                f"--gpus-per-job {self.gpus_per_job}: give a share of one GPU, over 0 and at most 1 (one run "
                "on several GPUs is not supported here)."
            )

    def run(self, jobs: list[Job], emit: Emit) -> list[Outcome]:
        gpus = visible_gpus()
        per_gpu = int(1 / self.gpus_per_job + 1e-9)
        n = max(1, min(self.jobs, len(jobs), len(gpus) * per_gpu if gpus else self.jobs))
        slots = [gpus[i % len(gpus)] if gpus else None for i in range(n)]  # GPUs dealt out in turn
        context = multiprocessing.get_context("spawn")  # no fork of a process that has run torch
        # plain pipes between this process and the workers: no manager process whose death would end the sweep
        tasks, events, results = context.Queue(), context.Queue(), context.Queue()
        for task in [*enumerate(jobs), *[None] * n]:  # a None per worker: no more jobs
            tasks.put(task)
        threads = max(1, (os.cpu_count() or 1) // n)
        outcomes: dict[int, Outcome] = {}
        running: dict[int, int] = {}  # worker pid -> index of the job it runs
        worked: set[int] = set()  # pids of the workers that have started a job
        workers: dict[int, tuple[multiprocessing.process.BaseProcess, str | None]] = {}

        def start(gpu: str | None) -> None:
            process = context.Process(target=_worker, args=(gpu, threads, tasks, events, results))
            process.start()
            workers[process.pid] = (process, gpu)

        def drain() -> None:
            while True:
                try:
                    emit(events.get_nowait())
                except queue.Empty:
                    break
            while True:
                try:
                    kind, index, pid, outcome = results.get_nowait()
                except queue.Empty:
                    break
                if kind == "start":
                    running[pid] = index
                    worked.add(pid)
                else:
                    outcomes[index] = outcome
                    running.pop(pid, None)

        try:
            for gpu in slots:
                start(gpu)
            while len(outcomes) < len(jobs):
                time.sleep(0.05)
                drain()
                for pid, (process, gpu) in list(workers.items()):
                    if process.is_alive():
                        continue
                    process.join()
                    drain()  # what it said before it exited
                    del workers[pid]
                    index = running.pop(pid, None)
                    if process.exitcode == 0:
                        continue
                    why = f"its worker process died (exit code {process.exitcode}: killed, or out of memory)"
                    if index is not None and index not in outcomes:
                        outcomes[index] = _failed(jobs[index], why, emit)
                    if pid in worked and len(outcomes) + len(running) < len(jobs):
                        start(gpu)  # in its place, for the jobs left (not for one that died before any job)
                    if not workers:  # none left to take the jobs still queued
                        for i in range(len(jobs)):
                            if i not in outcomes:
                                outcomes[i] = _failed(jobs[i], f"{why} before it started a job", emit)
                drain()
            for process, _ in workers.values():
                process.join(timeout=5)  # each takes its None and ends
        finally:
            for process, _ in workers.values():
                process.kill()
            for q in (tasks, events, results):
                q.cancel_join_thread()  # what is left in them is not waited for
                q.close()
        return [outcomes[i] for i in range(len(jobs))]


def _failed(job: Job, error: str, emit: Emit) -> Outcome:
    """A job that could not report its own failure (its process died): recorded in failed.json."""
    try:
        plan = plan_of(job)
    except ZooError:
        plan = None
    run = f"run {plan.run_id} " if plan else ""
    error = f"{job.label}: {run}failed: {error}"  # as a run's own failure reads (RunFailed)
    outcome = Outcome(job, plan.run_id if plan else "", str(plan.run_dir) if plan else "", error=error)
    if plan is not None and not (plan.run_dir / "failed.json").is_file():
        from zoo.runner import record_failure

        plan.run_dir.mkdir(parents=True, exist_ok=True)
        record_failure(plan, plan.run_dir, error)
    emit({"job": job.label, "kind": "failed", "error": error, "run_id": outcome.run_id})
    return outcome
