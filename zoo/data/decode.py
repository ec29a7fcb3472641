"""Decode many files at once: a pool of processes that die with this one (threads where fork is missing),
and the reading each of them does, which hands back a DecodeError rather than raising it."""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Iterator

import torch

from zoo.data.audio import Decoded, DecodeError, read_clip


def load_clip(path: str) -> Decoded | DecodeError:
    """The decoded clip at `path`, or the DecodeError that says why it cannot be read."""
    try:
        return read_clip(path)
    except DecodeError as exc:
        return exc


def worker_count() -> int:
    """The cores this process may run on: one worker each."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def start_worker() -> None:
    """In a decoding process: one torch thread (the processes are the parallelism, and torch's thread pool
    must not be used after fork), and die with the zoo process."""
    torch.set_num_threads(1)
    die_with_parent()


def die_with_parent() -> None:
    """In a worker process: die when the zoo process dies (even by kill -9), and leave Ctrl-C and
    SIGTERM to it (it kills the workers: see decoder_pool)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG (Linux)
    except (OSError, AttributeError):
        pass


@contextmanager
def decoder_pool() -> Iterator[Executor]:
    """One process per core where fork is available (no GIL between them; each runs torch on one thread),
    threads elsewhere. An error, Ctrl-C or SIGTERM in the block kills the processes at once
    (multiprocessing.Pool.terminate can deadlock when interrupted; a killed executor cannot)."""
    workers = worker_count()
    if "fork" not in multiprocessing.get_all_start_methods():
        with ThreadPoolExecutor(workers) as pool:
            yield pool
        return
    pool = ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("fork"), initializer=start_worker
    )
    try:
        yield pool
    except BaseException:
        for process in list(getattr(pool, "_processes", {}).values()):
            process.kill()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
