"""The `local` executor with `--jobs N`: N worker processes on this machine, each with its share of the CPU
threads and, where there are GPUs, of the GPUs."""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import queue
import signal
import sys
import time
import warnings
from dataclasses import dataclass

from zoo.errors import ZooError, ZooWarning
from zoo.sweep import Emit, Job, Outcome, record_lost_job, run_reporting


def _worker(gpu: str | None, threads: int, tasks, events, results) -> None:
    """A worker process (on GPU `gpu` alone, when given): runs jobs from `tasks` until it takes None, saying
    on `results` which job it starts (so that its death names that job) and each job's outcome. It keeps
    torch, the registry and the prepared cache between jobs."""
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu  # before CUDA starts in this process
    import torch

    die_with_parent()  # Ctrl-C is the driver's to handle (it ends the workers); a killed driver ends them
    # a forked worker inherits the driver's display (its console and lock): it writes plain text instead
    sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
    warnings.showwarning = _plain_warning

    torch.set_num_threads(threads)
    while (task := tasks.get()) is not None:
        index, job = task
        results.put(("start", index, os.getpid(), None))
        results.put(("done", index, os.getpid(), run_reporting(job, events.put)))


def die_with_parent() -> None:
    """In a worker process: die when the zoo process dies (even by kill -9), and leave Ctrl-C and SIGTERM
    to it (it ends the workers)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG (Linux)
    except (OSError, AttributeError):
        pass


def start_method(gpus: bool, threads: int) -> str:
    """How workers start. "fork" where it is safe and the platform has it: no GPU (CUDA cannot be used in a
    process forked from one that has touched it) and one torch thread per worker (OpenMP, used by this
    process already, hangs in a forked child that starts a team of threads); a forked worker starts at once,
    with this process's imports and project (settings, registry, clip table, cache) already built. Else
    "spawn": a fresh interpreter that imports torch and builds the project again (seconds)."""
    fork = not gpus and threads == 1 and "fork" in multiprocessing.get_all_start_methods()
    return "fork" if fork else "spawn"


def cpu_advice(jobs: int, cores: int, gpus: bool) -> str | None:
    """What --jobs `jobs` will not buy on `cores` CPU cores without GPUs, and why (None: it can help)."""
    if gpus or jobs < 2 or cores > jobs:
        return None
    return (
        f"--jobs {jobs} on {cores} CPU core{'s' * (cores > 1)}: the runs split the cores that one run at a "
        "time uses all of, so training takes about as long in all; only their one-threaded parts "
        "(evaluation, plots) overlap. --jobs pays with more cores than jobs, or with GPUs "
        "(benchmarks/sweep_jobs.py measures it on this machine)."
    )


def _plain_warning(message, category, filename, lineno, file=None, line=None) -> None:
    sys.__stderr__.write(warnings.formatwarning(message, category, filename, lineno, line))


def visible_gpus() -> list[str]:
    """The CUDA devices this process may use, as CUDA_VISIBLE_DEVICES names them ([] without CUDA)."""
    import torch

    count = torch.cuda.device_count()
    listed = [d.strip() for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    return listed[:count] if listed else [str(i) for i in range(count)]


@dataclass
class Processes:
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
        from zoo.data.decode import worker_count  # here: listing commands import no torch

        gpus = visible_gpus()
        per_gpu = int(1 / self.gpus_per_job + 1e-9)
        n = max(1, min(self.jobs, len(jobs), len(gpus) * per_gpu if gpus else self.jobs))
        slots = [gpus[i % len(gpus)] if gpus else None for i in range(n)]  # GPUs dealt out in turn
        cores = worker_count()  # the cores this process may use (a container's, a taskset's)
        threads = max(1, cores // n)
        if advice := cpu_advice(n, cores, bool(gpus)):
            warnings.warn(ZooWarning(advice))
        pool = _Pool(jobs, emit, threads, start_method(bool(gpus), threads))
        try:
            for gpu in slots:
                pool.start(gpu)
            while len(pool.outcomes) < len(jobs):
                time.sleep(0.05)
                pool.drain()
                pool.replace_the_dead()
                pool.drain()
            pool.join()
        finally:
            pool.close()
        return [pool.outcomes[i] for i in range(len(jobs))]


class _Pool:
    """The workers of one Processes.run and what they said: which job each runs, each job's outcome."""

    def __init__(self, jobs: list[Job], emit: Emit, threads: int, method: str = "spawn"):
        self.jobs, self.emit, self.threads = jobs, emit, threads
        self.context = multiprocessing.get_context(method)
        # plain pipes to the workers: no manager process whose death would end the sweep
        self.tasks, self.events, self.results = (self.context.Queue() for _ in range(3))
        for task in [*enumerate(jobs), *[None] * len(jobs)]:  # a None per worker (at most one per job): stop
            self.tasks.put(task)
        self.outcomes: dict[int, Outcome] = {}
        self.running: dict[int, int] = {}  # worker pid -> index of the job it runs
        self.worked: set[int] = set()  # pids of the workers that have started a job
        self.workers: dict[int, tuple] = {}  # pid -> (process, its GPU)

    def start(self, gpu: str | None) -> None:
        process = self.context.Process(
            target=_worker, args=(gpu, self.threads, self.tasks, self.events, self.results)
        )
        process.start()
        self.workers[process.pid] = (process, gpu)

    def drain(self) -> None:
        """Pass on the workers' events; note which job each has started and each outcome."""
        while True:
            try:
                self.emit(self.events.get_nowait())
            except queue.Empty:
                break
        while True:
            try:
                kind, index, pid, outcome = self.results.get_nowait()
            except queue.Empty:
                break
            if kind == "start":
                self.running[pid] = index
                self.worked.add(pid)
            else:
                self.outcomes[index] = outcome
                self.running.pop(pid, None)

    def replace_the_dead(self) -> None:
        """A worker that died fails the job it ran, and a new one takes its place for the jobs left."""
        for pid, (process, gpu) in list(self.workers.items()):
            if process.is_alive():
                continue
            process.join()
            self.drain()  # what it said before it exited
            del self.workers[pid]
            index = self.running.pop(pid, None)
            if process.exitcode == 0:
                continue
            why = f"its worker process died (exit code {process.exitcode}: killed, or out of memory)"
            if index is not None and index not in self.outcomes:
                self.outcomes[index] = record_lost_job(self.jobs[index], why, self.emit)
            if pid in self.worked and len(self.outcomes) + len(self.running) < len(self.jobs):
                self.start(gpu)  # in its place (not for one that died before any job: it would again)
            if not self.workers:  # none left to take the jobs still queued
                for i, job in enumerate(self.jobs):
                    if i not in self.outcomes:
                        self.outcomes[i] = record_lost_job(job, f"{why} before it started a job", self.emit)

    def join(self) -> None:
        for process, _ in self.workers.values():
            process.join(timeout=5)  # each takes its None and ends

    def close(self) -> None:
        for process, _ in self.workers.values():
            process.kill()
        for q in (self.tasks, self.events, self.results):
            q.cancel_join_thread()  # what is left in them is not waited for
            q.close()
