"""Shared fixtures: a tiny project folder and a way to call the CLI in-process."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from zoo.cli import main

FSDD = Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdd"
PLUGINS = Path(__file__).parent / "plugins"

TINY_REGISTRY = """
[dataset]
name = "synthetic"
[dataset.options]
recordings = 4
clips_per_recording = 3

[features]
n_mels = 32
frames = 32
hop_length = 512

[splits]
val = 0.25
test = 0.25

[protocol]
epochs = 2
batch_size = 16

[models.baseline_cnn]
[models.efficientnet_b0]
pretrained = "auto"
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project folder with a tiny registry.toml, as the working directory."""
    (tmp_path / "registry.toml").write_text(textwrap.dedent(TINY_REGISTRY))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty Hugging Face cache
    return tmp_path


@pytest.fixture
def zoo_cli(capsys):
    """Run `zoo ARGS...` in-process; returns (exit code, stdout, stderr)."""

    def run(*args: str):
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def write_tone(
    path: Path,
    freq: float = 440.0,
    sr: int = 16000,
    seconds: float = 0.5,
    subtype: str = "PCM_16",
    channels: int = 1,
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(sr * seconds)) / sr
    wave = 0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * np.random.default_rng(int(freq)).standard_normal(
        len(t)
    )
    data = np.stack([wave] * channels, axis=1) if channels > 1 else wave
    sf.write(path, data.astype(np.float32), sr, subtype=subtype)
    return path
