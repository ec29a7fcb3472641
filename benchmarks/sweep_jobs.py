"""Wall time of one sweep run one job at a time and N jobs at once (zoo run --jobs N), on this machine.

    python benchmarks/sweep_jobs.py                      # 6 jobs, --jobs 1 vs --jobs 2
    python benchmarks/sweep_jobs.py --jobs 4 --gpus-per-job 0.25 --seeds 8   # packed onto one GPU

The sweep: baseline_cnn with `--seeds` seeds on the generated data set (the demo's features), `--epochs`
epochs each, every job a whole run (training, evaluation, plots, compute figures). The feature cache is
built before either timing. Each timing starts from empty experiments/, so both train every job; they
share the cache. Prints both wall times and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

REGISTRY = """
[dataset]
name = "synthetic"
[protocol]
epochs = {epochs}
seeds = {seeds}
[models.baseline_cnn]
"""


def measure(jobs: int = 2, seeds: int = 6, epochs: int = 5, gpus_per_job: float | None = None) -> dict:
    """{"one at a time": wall s, "--jobs N": wall s} for one sweep, in a fresh project folder."""
    from zoo.executors import Local, Processes
    from zoo.sweep import Source, plan_sweep, run_sweep

    times = {}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "registry.toml").write_text(REGISTRY.format(epochs=epochs, seeds=seeds))
        os.environ["HF_HUB_OFFLINE"] = "1"
        source = Source.from_registry(root / "registry.toml")
        planned = plan_sweep(source)
        run_sweep(planned[:1], executor=Local())  # builds the cache and warms up: not timed
        gpus = {} if gpus_per_job is None else {"gpus_per_job": gpus_per_job}
        for name, executor in (("one at a time", Local()), (f"--jobs {jobs}", Processes(jobs, **gpus))):
            shutil.rmtree(root / "experiments", ignore_errors=True)
            start = time.perf_counter()
            outcomes = run_sweep(planned, executor=executor)
            times[name] = time.perf_counter() - start
            assert not any(o.error for o in outcomes), [o.error for o in outcomes if o.error]
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="jobs at once in the second timing")
    parser.add_argument("--gpus-per-job", type=float, help="the share of a GPU each job gets")
    parser.add_argument("--seeds", type=int, default=6, help="jobs in the sweep")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print the two wall times as one JSON line")
    args = parser.parse_args()
    times = measure(args.jobs, args.seeds, args.epochs, args.gpus_per_job)
    if args.json:
        print(json.dumps(times))
        return 0
    for name, wall in times.items():
        print(f"{name:>14}: {args.seeds} jobs in {wall:.1f} s")
    first, second = times.values()
    print(f"ratio (one at a time / --jobs {args.jobs}): {first / second:.2f}x on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
