"""kill -9 at random points of `zoo run --all`, then a rerun: the metrics must equal an uninterrupted run's.

    python benchmarks/kill_resume.py --kills 10          # prints one row per kill, exits 1 on any difference

Each kill starts from a fresh project folder (the tests' tiny registry, a little larger: the generated
data set, both first-party models). Half of the kill points are random times spread over the length of an
uninterrupted run; the others wait for a moment of one phase (the cache done, a model's training done
and its evaluation under way, the results printed and the leaderboard being written) and kill right then.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from conftest import TINY_REGISTRY  # noqa: E402  (one tiny registry for the tests and this script)
from zoo.evaluate.metrics import METRICS  # noqa: E402

COMPARED = (*(m.name for m in METRICS), "intervals", "confusion_matrix", "n_test", "epochs", "best_epoch")
EPOCHS = 8
# The tests' tiny registry, with enough clips and a high enough rate for baseline_cnn to learn in 8 epochs
REGISTRY = (
    textwrap.dedent(TINY_REGISTRY)
    .replace("recordings = 4\nclips_per_recording = 3", "recordings = 6\nclips_per_recording = 4")
    .replace("batch_size = 16", "batch_size = 16\nlr = 0.005")
)


def start(project: Path, log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1", "HF_HOME": str(project / "hf")}
    return subprocess.Popen(
        [sys.executable, "-m", "zoo.cli", "run", "--all", "--epochs", str(EPOCHS)],
        cwd=project,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )


def fresh_project(parent: Path, name: str) -> Path:
    project = parent / name
    project.mkdir()
    (project / "registry.toml").write_text(REGISTRY)
    return project


def results(project: Path) -> dict:
    """model -> the compared metrics and the predictions file, from the finished run folders."""
    found = {}
    for metrics in sorted((project / "experiments" / "synthetic").glob("*/*/metrics.json")):
        data = json.loads(metrics.read_text())
        predictions = (metrics.parent / "predictions.csv").read_text().replace(str(project), "PROJECT")
        found[data["model"]] = ({k: data[k] for k in COMPARED}, predictions)
    return found


def phase(project: Path) -> str:
    """Where the killed run stood, read from what it left on disk."""
    if not list((project / "cache" / "features").glob("*/*/meta.json")):
        return "preparing the data"
    for model in ("baseline_cnn", "efficientnet_b0"):
        runs = list((project / "experiments" / "synthetic" / model).glob("*/"))
        if not runs or not (runs[0] / "metrics.json").is_file():
            if runs and (runs[0] / "history.csv").is_file():
                return f"evaluating {model}"
            return f"training {model}"
    board = project / "leaderboard" / "synthetic.md"
    return "writing the leaderboard" if not board.is_file() else "after the leaderboard"


def wait_for(condition, proc: subprocess.Popen, limit: float = 300) -> None:
    deadline = time.monotonic() + limit
    while not condition() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        reference = fresh_project(tmp, "reference")
        began = time.monotonic()
        proc = start(reference, tmp / "reference.log")
        if proc.wait() != 0:
            print((tmp / "reference.log").read_text())
            return 2
        length = time.monotonic() - began
        expected = results(reference)
        print(
            f"uninterrupted `zoo run --all --epochs {EPOCHS}`: {length:.1f} s; "
            + ", ".join(f"{m} accuracy {r[0]['accuracy']:.4f}" for m, r in expected.items())
        )

        targets = [
            ("the cache is done", lambda p: bool(list((p / "cache" / "features").glob("*/*/meta.json")))),
            (
                "baseline_cnn trained",
                lambda p: bool(list((p / "experiments").glob("*/baseline_cnn/*/history.csv"))),
            ),
            (
                "efficientnet_b0 trained",
                lambda p: bool(list((p / "experiments").glob("*/efficientnet_b0/*/history.csv"))),
            ),
            ("results printed", lambda p: "Test-split results" in (p.parent / f"{p.name}.log").read_text()),
        ]
        random_kills = args.kills - len(targets) if args.kills > len(targets) else args.kills // 2
        plan = [
            (
                f"at {length * (i + rng.random()) / random_kills:.1f} s",
                None,
                length * (i + rng.random()) / random_kills,
            )
            for i in range(random_kills)
        ]
        plan += [(f"when {name}", cond, None) for name, cond in targets[: args.kills - random_kills]]
        failures = 0
        print(f"{'#':>2}  {'kill':<28} {'phase at the kill':<28} {'rerun':<6} same metrics and predictions")
        for number, (when, condition, delay) in enumerate(plan, 1):
            project = fresh_project(tmp, f"kill{number}")
            log = tmp / f"kill{number}.log"
            proc = start(project, log)
            if condition is None:
                time.sleep(delay)
            else:
                wait_for(lambda: condition(project), proc)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            where = phase(project)
            rerun = start(project, tmp / f"rerun{number}.log")
            code = rerun.wait()
            same = code == 0 and results(project) == expected
            failures += not same
            print(
                f"{number:>2}  {when:<28} {where:<28} {'ok' if code == 0 else f'rc {code}':<6} "
                f"{'yes' if same else 'NO'}"
            )
            if not same:
                print((tmp / f"rerun{number}.log").read_text()[-3000:])
        print(
            f"{len(plan) - failures}/{len(plan)} reruns gave the uninterrupted run's metrics and predictions"
        )
        return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
