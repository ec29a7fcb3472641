"""What a model costs: parameters, multiply-accumulates per window, CPU latency per window."""

from __future__ import annotations

import copy
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

LATENCY_REPEATS = 30


@torch.inference_mode()
def macs(model: torch.nn.Module, n_mels: int, frames: int) -> int:
    """Multiply-accumulates of one window, (1, 1, n_mels, frames), through `model` (half torch's flops)."""
    counter = FlopCounterMode(display=False)
    with counter:
        model.eval()(torch.zeros(1, 1, n_mels, frames))
    return counter.get_total_flops() // 2


@torch.inference_mode()
def measure(model: torch.nn.Module, n_mels: int, frames: int, threads: int = 1) -> dict:
    """params; macs (half torch's flop count) and latency_ms (median of LATENCY_REPEATS forward passes
    after warm-up, on the CPU with `threads` threads, fp32) for one window, (1, 1, n_mels, frames). The
    model is copied to the CPU: the trained one is left where it is."""
    cpu = copy.deepcopy(model).to("cpu", memory_format=torch.contiguous_format).eval()
    x = torch.zeros(1, 1, n_mels, frames)
    count = macs(cpu, n_mels, frames)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for _ in range(3):
            cpu(x)
        times = []
        for _ in range(LATENCY_REPEATS):
            start = time.perf_counter()
            cpu(x)
            times.append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(before)
    return {
        "params": sum(p.numel() for p in model.parameters()),
        "macs": count,
        "latency_ms": round(statistics.median(times) * 1000, 3),
        "latency": f"CPU, {threads} thread(s), batch 1, fp32, median of {LATENCY_REPEATS}",
        "input": f"1 x {n_mels} x {frames}",
    }
