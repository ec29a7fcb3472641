"""Hours of audio `zoo predict` gets through per hour of wall time, per model, on this machine.

    python benchmarks/predict_speed.py --minutes 60      # prints one row per model

Trains baseline_cnn and efficientnet_b0 for one epoch on the generated data set (their speed does not
depend on what they learned; the demo's features: 16 kHz, 64 mels, 1 s windows), writes `--minutes` of
44.1 kHz noise as files of 10 minutes (a folder of recordings, as a survey has them), and times `zoo predict`
over the folder: its first call in this process (the imports of the predict path and their first use
included) and the best of two more (the steady rate). Sliding windows at the default hop (half a window,
down to an STFT hop: two windows per second of audio). Also prints the share of the time spent in the model
alone (the rest: decoding, resampling, log-mels, writing the CSVs).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

FILE_MINUTES = 10.0

REGISTRY = """
[dataset]
name = "synthetic"
[protocol]
epochs = 1
[models.baseline_cnn]
[models.efficientnet_b0]
pretrained = false
"""


def measure(minutes: float, models=("baseline_cnn", "efficientnet_b0")) -> dict:
    """{model: (first call s, steady s, hours of audio per hour first, steady, the model alone s)} for
    `zoo predict` over `minutes` of 44.1 kHz audio in files of FILE_MINUTES, in a fresh project folder (the
    working directory is restored)."""
    from zoo.apply.inference import load_run
    from zoo.cli import main as zoo

    here, rows = os.getcwd(), {}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "registry.toml").write_text(REGISTRY)
        os.chdir(root)
        os.environ["HF_HUB_OFFLINE"] = "1"
        try:
            assert zoo(["run", *models]) == 0
            rate, rng = 44100, np.random.default_rng(0)
            (root / "audio").mkdir()
            left, number = minutes, 0
            while left > 1e-9:
                length = min(left, FILE_MINUTES)
                wave = 0.02 * rng.standard_normal(int(length * 60 * rate)).astype(np.float32)
                sf.write(root / "audio" / f"{number:03d}.wav", wave, rate, subtype="PCM_16")
                left, number = left - length, number + 1
            for model in models:
                run_dir = next((root / "experiments" / "synthetic" / model).iterdir())
                walls = []
                for _ in range(3):
                    start = time.perf_counter()
                    assert zoo(["predict", run_dir.name, "audio", "--out", f"out-{model}"]) == 0
                    walls.append(time.perf_counter() - start)
                run = load_run(run_dir)
                x = torch.zeros(256, 1, run.features.n_mels, run.features.frames)  # log-mels
                windows = minutes * 60 / run.hop_s
                start = time.perf_counter()
                run.probabilities(x)
                alone = (time.perf_counter() - start) * windows / 256
                first, steady = walls[0], min(walls[1:])
                rows[model] = (first, steady, minutes / first * 60, minutes / steady * 60, alone)
        finally:
            os.chdir(here)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    args = parser.parse_args()
    rows = measure(args.minutes)
    print(
        f"\n{args.minutes:g} min of 44.1 kHz audio in files of {FILE_MINUTES:g} min; torch threads "
        f"{torch.get_num_threads()}"
    )
    print(f"{'model':<16} {'first s':>8} {'h/h':>6} {'steady s':>9} {'h/h':>6} {'model alone s':>14}")
    for model, (first, steady, rate_first, rate, alone) in rows.items():
        print(f"{model:<16} {first:>8.1f} {rate_first:>6.0f} {steady:>9.1f} {rate:>6.0f} {alone:>14.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
