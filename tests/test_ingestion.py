"""Real recordings are messy: mixed formats are prepared, bad files are listed with a reason, the run goes
on."""

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from conftest import write_tone

pytestmark = pytest.mark.slow


def messy_folder(root):
    for label, base in (("orca", 500.0), ("humpback", 2500.0)):
        folder = root / label
        write_tone(folder / "pcm16_8k.wav", base, sr=8000, seconds=1.0)
        write_tone(folder / "pcm24_44k.wav", base * 1.05, sr=44100, seconds=1.0, subtype="PCM_24")
        write_tone(folder / "float32_96k.wav", base * 1.1, sr=96000, seconds=1.0, subtype="FLOAT")
        write_tone(folder / "stereo.flac", base * 0.95, sr=22050, seconds=1.0, channels=2)
        write_tone(folder / "short.ogg", base * 0.9, sr=16000, seconds=0.05, subtype="VORBIS")
        write_tone(folder / "long.wav", base * 1.15, sr=8000, seconds=60.0)
        for i in range(4):
            write_tone(folder / f"extra{i}.wav", base * (1 + 0.02 * i), sr=16000, seconds=0.8)
    (root / "orca" / "empty.wav").write_bytes(b"")
    (root / "orca" / "truncated.wav").write_bytes((root / "orca" / "pcm16_8k.wav").read_bytes()[:20])
    sf.write(root / "humpback" / "nans.wav", np.full(4000, np.nan, dtype=np.float32), 8000, subtype="FLOAT")
    (root / "humpback" / "same.wav").write_bytes(
        (root / "orca" / "extra0.wav").read_bytes()
    )  # one file, two labels
    return root


def test_mixed_formats_are_prepared_and_each_bad_file_listed(project, zoo_cli, monkeypatch):
    messy_folder(project / "messy")
    code, out, err = zoo_cli(
        "run",
        "baseline_cnn",
        "--dataset",
        "folder",
        "--data-root",
        "messy",
        "--epochs",
        "1",
        "--set",
        "splits.test=0.25",
        "--set",
        "splits.val=0.25",
    )
    assert code == 0, err
    reasons = {"empty.wav": "empty file", "truncated.wav": "cannot decode", "nans.wav": "NaN"}
    for name, reason in reasons.items():
        line = next(line for line in err.splitlines() if name in line)
        assert line.startswith("skipped:") and reason in line
    assert "1 set(s) of byte-identical files (2 files): 1 under different labels (every copy dropped)" in err
    run_dir = next((project / "experiments" / "folder" / "baseline_cnn").iterdir())
    duplicates = pd.read_csv(run_dir / "duplicates.csv")
    assert sorted(duplicates["path"].map(lambda p: p.rsplit("/", 2)[-2])) == ["humpback", "orca"]
    assert set(duplicates["action"]) == {"dropped"} and set(duplicates["labels"]) == {"humpback|orca"}
    skipped = pd.read_csv(run_dir / "skipped.csv")
    assert sorted(p.rsplit("/", 1)[-1] for p in skipped["path"]) == sorted(reasons)
    used = pd.read_csv(run_dir / "splits.csv")["path"].map(lambda p: p.rsplit("/", 1)[-1])
    assert len(used) == 2 * 10 - 1 and "same.wav" not in set(used) and "short.ogg" in set(used)

    from zoo.cli.draw import console

    monkeypatch.setattr(console, "_width", 200)  # one line per table row
    code, out, _ = zoo_cli("inspect", "--dataset", "folder", "--data-root", "messy")
    assert code == 0
    orca = next(line for line in out.splitlines() if line.startswith("orca ")).split()
    # class, clips, seconds, groups, native rates (kHz), skipped, duplicates, train, val, test
    assert orca[:2] == ["orca", "12"] and orca[4] == "8-96" and orca[5:7] == ["2", "1"]
    assert sum(int(n) for n in orca[7:]) == 9


def test_a_long_clip_yields_several_windows(project, zoo_cli):
    messy_folder(project / "messy")
    code, _, err = zoo_cli(
        "prepare", "--dataset", "folder", "--data-root", "messy", "--set", "features.max_windows=6"
    )
    assert code == 0, err
    from zoo.data.cache import Prepared

    cache = next((project / "cache" / "features" / "folder").glob("*/meta.json")).parent
    clips = Prepared(cache, {}).clips
    windows = dict(zip(clips["path"].map(lambda p: p.rsplit("/", 1)[-1]), clips["windows"]))
    assert windows["long.wav"] == 6 and windows["short.ogg"] == 1 and windows["empty.wav"] == 0
