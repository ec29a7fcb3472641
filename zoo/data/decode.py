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

from zoo.data.audio import Decoded, DecodeError, read_clip


def load_clip(path: str) -> Decoded | DecodeError:
    """The decoded clip at `path`, or the DecodeError that says why it cannot be read."""
    try:
        return read_clip(path)
    except DecodeError as exc:
        return exc


def die_with_parent() -> None:
    """In a decoding process: die when the zoo process dies (even by kill -9), and leave Ctrl-C and
    SIGTERM to it (it kills the decoders: see decoder_pool)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG (Linux)
    except (OSError, AttributeError):
        pass


@contextmanager
def decoder_pool() -> Iterator[Executor]:
    """Processes decode where fork is available (no GIL between them: only numpy and libsndfile run in
    them, never torch); threads elsewhere. An error, Ctrl-C or SIGTERM in the block kills the processes at
    once (multiprocessing.Pool.terminate can deadlock when interrupted; a killed executor cannot)."""
    workers = os.cpu_count() or 1
    if "fork" not in multiprocessing.get_all_start_methods():
        with ThreadPoolExecutor(workers) as pool:
            yield pool
        return
    pool = ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("fork"), initializer=die_with_parent
    )
    try:
        yield pool
    except BaseException:
        for process in list(getattr(pool, "_processes", {}).values()):
            process.kill()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
