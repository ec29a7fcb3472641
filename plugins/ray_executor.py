"""The `ray` executor, a plugin: a sweep's jobs as Ray tasks over a cluster's CPUs and GPUs (`pip install
"audio-zoo[ray]"`). Each task runs zoo.sweep.run_job on a worker and writes its run folder on the shared
filesystem; its progress events reach the driver through a Ray queue. A task whose worker dies (killed, out
of memory, its node lost) is retried, resuming from the run's checkpoint; after the last retry it is recorded
as failed and the others go on.

Example (three lines on a cluster whose nodes share the project folder and have audio-zoo installed)::

    ray start --head                       # on the head node; `ray start --address HEAD:6379` on the others
    zoo prepare                            # optional: builds the feature cache once, before any job
    zoo run --all --executor ray --address auto --gpus-per-job 0.25
"""

from __future__ import annotations

from dataclasses import dataclass

import zoo
from zoo.errors import ZooError
from zoo.sweep import Emit, Job, Outcome, record_lost_job, run_reporting


@zoo.hookimpl
def register_executors(register):
    register(
        zoo.ExecutorSpec(
            "ray",
            "a Ray cluster's CPUs and GPUs (pip install 'audio-zoo[ray]'); --address, --gpus-per-job",
            build,
            defaults={"address": None, "gpus_per_job": None, "cpus_per_job": 1.0, "retries": 2},
        )
    )


def build(address=None, gpus_per_job=None, cpus_per_job=1.0, retries=2) -> "RayExecutor":
    if gpus_per_job is not None and gpus_per_job < 0:
        raise ZooError(f"--gpus-per-job {gpus_per_job}: give 0 (no GPU) or more.")
    return RayExecutor(address, cpus_per_job, gpus_per_job, retries)


def _task(job: Job, events, threads: int) -> Outcome:
    """Run on a Ray worker: one job, its events put on the driver's queue."""
    import torch

    torch.set_num_threads(threads)
    return run_reporting(job, events.put)  # a job's own error is recorded, not retried: a dead worker is


@dataclass
class RayExecutor:
    """Jobs as Ray tasks, each asking for `cpus_per_job` CPUs and `gpus_per_job` of a GPU (fractions pack
    several jobs onto one GPU; None: one GPU each when the cluster has GPUs, else none). `address`: a running
    cluster ("auto", "ray://host:10001"), or None to start one on this machine (or use the one this process
    has already started with ray.init). A job whose worker dies is retried `retries` times."""

    address: str | None = None
    cpus_per_job: float = 1.0
    gpus_per_job: float | None = None
    retries: int = 2

    def run(self, jobs: list[Job], emit: Emit) -> list[Outcome]:
        try:
            import ray
            from ray.util.queue import Empty, Queue
        except ImportError:
            raise ZooError('--executor ray needs Ray: pip install "audio-zoo[ray]".') from None
        started = not ray.is_initialized()
        if started:  # a cluster named by address, or a new one on this machine (with no dashboard)
            here = {} if self.address else {"include_dashboard": False}
            ray.init(address=self.address, log_to_driver=False, **here)
        pending: dict = {}  # task -> index of its job
        try:
            gpus = self.gpus_per_job
            if gpus is None:
                gpus = 1.0 if ray.cluster_resources().get("GPU", 0) else 0.0
            events = Queue()
            task = ray.remote(num_cpus=self.cpus_per_job, num_gpus=gpus, max_retries=self.retries)(_task)
            threads = max(1, int(self.cpus_per_job))
            pending.update({task.remote(job, events, threads): i for i, job in enumerate(jobs)})
            outcomes: dict[int, Outcome] = {}

            def drain():
                while True:
                    try:
                        emit(events.get_nowait())
                    except Empty:
                        return

            while pending:
                done, _ = ray.wait(list(pending), num_returns=1, timeout=0.1)
                drain()
                for ref in done:
                    index = pending.pop(ref)
                    try:
                        outcomes[index] = ray.get(ref)
                    except ray.exceptions.RayError as exc:  # its worker died on every try
                        why = " ".join(str(exc).split())[:300]
                        outcomes[index] = record_lost_job(
                            jobs[index], f"its Ray worker died ({self.retries + 1} tries): {why}", emit
                        )
            drain()
            return [outcomes[i] for i in range(len(jobs))]
        except BaseException:  # Ctrl-C, SIGTERM: stop the jobs still on the cluster (a rerun resumes them)
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        finally:
            if started:
                ray.shutdown()
