"""Issue 19 (1): a data set that recommends no features gets what inspecting its train split recommends."""

import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from conftest import write_tone

pytestmark = pytest.mark.slow


def noise(path, rate, seconds=1.0, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(
        path, np.random.default_rng(seed).standard_normal(int(rate * seconds)).astype(np.float32) * 0.1, rate
    )
    return path


def csv_project(project):
    """Train and val: tones at 8 kHz, 1 s. Test: broadband noise at 48 kHz, 3 s, and more of it: inspecting
    every clip would choose a high rate and long windows, the train split a low rate and 1-s windows."""
    rows = []
    for k, (label, freq) in enumerate((("low", 300.0), ("high", 1500.0))):
        for i in range(6):
            path = write_tone(project / "data" / label / f"{i}.wav", freq=freq + 20 * i, sr=8000, seconds=1.0)
            rows.append({"path": str(path), "label": label, "group": f"{label}{i}", "split": "train"})
        for i in range(2):
            path = write_tone(project / "data" / label / f"v{i}.wav", freq=freq + 7 * i, sr=8000, seconds=1.0)
            rows.append({"path": str(path), "label": label, "group": f"{label}v{i}", "split": "val"})
        for i in range(12):
            path = noise(project / "data" / label / f"t{i}.wav", 48000, seconds=3.0, seed=100 * k + i)
            rows.append({"path": str(path), "label": label, "group": f"{label}t{i}", "split": "test"})
    pd.DataFrame(rows).to_csv(project / "clips.csv", index=False)
    (project / "registry.toml").write_text(
        '[dataset]\nname = "csv"\nroot = "clips.csv"\n'
        "[protocol]\nepochs = 1\nbatch_size = 8\n[models.baseline_cnn]\n"
    )


def test_a_csv_data_set_trains_on_features_inspected_from_its_train_split_only(project, zoo_cli):
    csv_project(project)
    code, out, err = zoo_cli("run", "baseline_cnn")
    assert code == 0, err
    assert "features (inspected from its train split" in out
    config = json.loads(next((project / "experiments" / "csv").glob("*/*/config.json")).read_text())
    features = config["features"]
    assert features["source"] == "inspected"
    assert features["sample_rate"] == 8000  # from the 8 kHz train clips, not the 48 kHz test clips
    assert features["frames"] * features["hop_length"] / 8000 == pytest.approx(1.0, abs=0.15)
    kept = next((project / "cache" / "features" / "csv").glob("inspected-*.json"))
    assert json.loads(kept.read_text())["clips"] == 12  # the train clips
    stamp = kept.stat().st_mtime_ns
    code, out, _ = zoo_cli("run", "baseline_cnn")
    assert code == 0 and "already finished" in out and kept.stat().st_mtime_ns == stamp  # inspected once
    code, out, _ = zoo_cli("inspect")
    assert "in force for this data set" in out and "sample_rate = 8000" in out
    assert "M multiply-accumulates per window: baseline_cnn" in out


def test_features_set_in_the_registry_win_and_are_said_to(project, zoo_cli):
    csv_project(project)
    code, out, err = zoo_cli("run", "baseline_cnn", "--set", "features.n_mels=32")
    assert code == 0, err
    config = json.loads(next((project / "experiments" / "csv").glob("*/*/config.json")).read_text())
    assert config["features"]["source"] == "registry" and config["features"]["n_mels"] == 32
    assert config["features"]["sample_rate"] == 8000  # the rest still inspected


def test_a_data_set_with_its_own_features_keeps_them(project, zoo_cli):
    code, out, err = zoo_cli("run", "baseline_cnn", "--epochs", "1")
    assert code == 0, err
    config = json.loads(next((project / "experiments" / "synthetic").glob("*/*/config.json")).read_text())
    assert config["features"]["source"] == "registry"  # the tiny registry's [features] over synthetic's
    assert not list((project / "cache" / "features" / "synthetic").glob("inspected-*.json"))
