"""Wall time of one sweep run one job at a time and N jobs at once (zoo run --jobs N), on this machine.

    python benchmarks/sweep_jobs.py                      # 8 jobs, --jobs 1 vs --jobs 2
    python benchmarks/sweep_jobs.py --jobs 4 --gpus-per-job 0.25 --seeds 8   # packed onto one GPU

The sweep: baseline_cnn with `--seeds` seeds on the generated data set (the demo's features), `--epochs`
epochs each, every job a whole run (training, evaluation, plots, compute figures). The feature cache is
built before either timing. Each timing starts from empty experiments/, so both train every job; they
share the cache. Prints both wall times and their ratio.
"""

from __future__ import annotations

import argparse
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="jobs at once in the second timing")
    parser.add_argument("--gpus-per-job", type=float, help="the share of a GPU each job gets")
    parser.add_argument("--seeds", type=int, default=8, help="jobs in the sweep")
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    from zoo.executors import Local, Processes
    from zoo.sweep import Source, plan_sweep, run_sweep

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "registry.toml").write_text(REGISTRY.format(epochs=args.epochs, seeds=args.seeds))
        os.environ["HF_HUB_OFFLINE"] = "1"
        source = Source.from_registry(root / "registry.toml")
        jobs = plan_sweep(source)
        run_sweep(jobs[:1], executor=Local())  # builds the cache and warms up: not timed
        times = {}
        gpus = {} if args.gpus_per_job is None else {"gpus_per_job": args.gpus_per_job}
        parallel = Processes(args.jobs, **gpus)
        for name, executor in (("one at a time", Local()), (f"--jobs {args.jobs}", parallel)):
            shutil.rmtree(root / "experiments", ignore_errors=True)
            start = time.perf_counter()
            outcomes = run_sweep(jobs, executor=executor)
            times[name] = time.perf_counter() - start
            assert not any(o.error for o in outcomes), [o.error for o in outcomes if o.error]
            print(f"{name:>14}: {len(jobs)} jobs in {times[name]:.1f} s", flush=True)
        first, second = times.values()
        print(f"ratio (one at a time / --jobs {args.jobs}): {first / second:.2f}x on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
