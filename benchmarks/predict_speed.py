"""Hours of audio `zoo predict` gets through per second of wall time, per model, on this machine.

    python benchmarks/predict_speed.py --minutes 20      # prints one row per model

Trains baseline_cnn and efficientnet_b0 for one epoch on the generated data set (their speed does not
depend on what they learned; the demo's features: 16 kHz, 64 mels, 1 s windows), writes a recording of
`--minutes` of noise with calls in it, and times `zoo predict` over it (sliding windows every half window:
two windows per second of audio), decoding in a background process as always. Also prints the share of
the time spent in the model alone (the rest: decoding, resampling, log-mels, writing the CSVs).
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
    """{model: (wall s, hours of audio per second, the model alone s)} for `zoo predict` over `minutes` of
    44.1 kHz audio, in a fresh project folder (the working directory is restored)."""
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
            wave = 0.02 * rng.standard_normal(int(minutes * 60 * rate)).astype(np.float32)
            sf.write(root / "long.wav", wave, rate, subtype="PCM_16")
            for model in models:
                run_dir = next((root / "experiments" / "synthetic" / model).iterdir())
                start = time.perf_counter()
                assert zoo(["predict", run_dir.name, "long.wav", "--out", f"out-{model}"]) == 0
                wall = time.perf_counter() - start
                run = load_run(run_dir)
                x = torch.zeros(256, run.features.samples)
                windows = 2 * minutes * 60
                start = time.perf_counter()
                run.probabilities(x)
                alone = (time.perf_counter() - start) * windows / 256
                rows[model] = (wall, minutes / 60 / wall, alone)
        finally:
            os.chdir(here)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0)
    args = parser.parse_args()
    rows = measure(args.minutes)
    print(f"\n{args.minutes:g} min of 44.1 kHz audio; torch threads {torch.get_num_threads()}")
    print(f"{'model':<16} {'wall s':>8} {'audio h / s':>12} {'model alone s':>14}")
    for model, (wall, rate, alone) in rows.items():
        print(f"{model:<16} {wall:>8.1f} {rate:>12.3f} {alone:>14.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
