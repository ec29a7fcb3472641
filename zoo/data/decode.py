"""Decode many files at once: a thread per core, and the reading each of them does, which hands back a
DecodeError rather than raising it."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
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


@contextmanager
def decoder_threads() -> Iterator[ThreadPoolExecutor]:
    """One thread per core, each running torch on one thread (torch's own pool would compete with them for
    the cores). Reading a file, its md5, numpy, libsndfile and torch's kernels release the GIL, so the threads
    run in parallel, and unlike processes they copy nothing: no forked memory, no results pickled back, which
    on short clips cost more than the work. Leaving the block (an error, Ctrl-C) drops the chunks not
    started; those running finish first (a chunk takes milliseconds)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    pool = ThreadPoolExecutor(worker_count(), thread_name_prefix="zoo-decode")
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        torch.set_num_threads(threads)
