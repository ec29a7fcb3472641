"""Named data sets: thin layers over the folder and CSV readers that know each collection's layout,
grouping and official split or folds."""

from __future__ import annotations

import re
from pathlib import Path

import zoo

FSDD_NAME = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)\.wav$")


def load_fsdd(root: Path, split: str = "speaker"):
    """Free Spoken Digit Dataset: `<digit>_<speaker>_<index>.wav` anywhere under root (the repository's
    `recordings/`, or `audio/<digit>/`). group = speaker. split = "speaker": whole speakers held out
    (the zoo's grouped split); "official": index 0-4 of each digit and speaker is test."""
    import pandas as pd

    if split not in ("speaker", "official"):
        raise zoo.ZooError(f'dataset.options.split = {split!r} for fsdd: use "speaker" or "official".')
    rows = []
    for path in sorted(Path(root).rglob("*.wav")):
        match = FSDD_NAME.match(path.name)
        if match:
            digit, speaker, index = match.groups()
            rows.append({"path": str(path), "label": digit, "group": speaker, "index": int(index)})
    if not rows:
        raise zoo.ZooError(
            f"No FSDD recordings (<digit>_<speaker>_<index>.wav) under {root}: point --data-root at "
            "the repository's recordings/ folder."
        )
    table = pd.DataFrame(rows)
    if split == "official":
        table["split"] = ["test" if i < 5 else "train" for i in table["index"]]
    return table.drop(columns="index")


def load_esc50(root: Path, subset: str = "esc50", test_fold: int = 5):
    """ESC-50 as released: `meta/esc50.csv` (filename, fold, category, esc10, src_file, ...) and `audio/`.
    group = src_file (clips cut from one recording stay together); `fold` = the official 5 folds, used
    by `protocol.folds = 5`; otherwise fold `test_fold` is the test split. subset "esc10": the ESC-10
    clips."""
    import pandas as pd

    meta = Path(root) / "meta" / "esc50.csv"
    if not meta.is_file():
        raise zoo.ZooError(f"No {meta}: point --data-root at the ESC-50 folder that holds meta/ and audio/.")
    raw = pd.read_csv(meta)
    missing = {"filename", "fold", "category", "esc10", "src_file"} - set(raw.columns)
    if missing:
        raise zoo.ZooError(f"{meta}: no {sorted(missing)[0]!r} column; is this the ESC-50 metadata file?")
    if subset not in ("esc50", "esc10"):
        raise zoo.ZooError(f'dataset.options.subset = {subset!r} for esc50: use "esc50" or "esc10".')
    if subset == "esc10":
        raw = raw[raw["esc10"].astype(str).str.lower() == "true"]
    return pd.DataFrame(
        {
            "path": [str(Path(root) / "audio" / f) for f in raw["filename"]],
            "label": raw["category"].astype(str).to_numpy(),
            "group": raw["src_file"].astype(str).to_numpy(),
            "split": ["test" if f == test_fold else "train" for f in raw["fold"]],
            "fold": raw["fold"].astype(int).to_numpy(),
        }
    )


def load_watkins(
    root: Path, group_pattern: str = r"^(\d{5})", label_column: str = "label", path_column: str = "path"
):
    """Watkins Marine Mammal Sound Database "best of" cuts: root/<species>/*.wav (folder names are species
    names or codes), or an annotations CSV (path, label[, group][, split]). group = the source tape: the
    first capture of `group_pattern` in the file name (cut names such as 6102500A.wav begin with the
    tape's 5 digits); a CSV's own group column wins; unmatched files are their own group."""
    from zoo.data.clips import read_annotations, scan_folder

    root = Path(root)
    if root.suffix.lower() == ".csv":
        table = read_annotations(root, path_column=path_column, label_column=label_column)
        derive = table["group"] == table["path"]  # read_annotations' stand-in when the CSV has no group
    else:
        table = scan_folder(root)
        derive = table["path"] == table["path"]
    pattern = re.compile(group_pattern)

    def tape(path: str) -> str:
        match = pattern.search(Path(path).stem)
        return match.group(1) if match else path

    table.loc[derive, "group"] = [tape(p) for p in table.loc[derive, "path"]]
    return table


@zoo.hookimpl
def register_datasets(register):
    register(
        zoo.DatasetSpec(
            name="fsdd",
            summary="Free Spoken Digit Dataset: 10 digits, group = speaker; speakers held out or official",
            load=load_fsdd,
            defaults={"split": "speaker"},
            # 8 kHz recordings: the whole band, 32 ms frames every 16 ms, windows of about 1 s; the speakers
            # recorded at levels 25 dB apart (median peaks -7 to -31 dBFS): each window levelled to its peak
            features={
                "sample_rate": 8000,
                "n_fft": 256,
                "hop_length": 128,
                "n_mels": 64,
                "frames": 64,
                "normalise": "level",
            },
        )
    )
    register(
        zoo.DatasetSpec(
            name="esc50",
            summary="ESC-50 / ESC-10 environmental sounds: official 5 folds, group = source recording",
            load=load_esc50,
            defaults={"subset": "esc50", "test_fold": 5},
            # 44.1 kHz, 5 s clips: PANNs' front end (32 kHz, 64 mels from 50 Hz to 14 kHz), windows of 2.5 s
            features={
                "sample_rate": 32000,
                "n_fft": 1024,
                "hop_length": 320,
                "n_mels": 64,
                "fmin": 50.0,
                "fmax": 14000.0,
                "frames": 250,
            },
        )
    )
    register(
        zoo.DatasetSpec(
            name="watkins",
            summary="Watkins marine mammal 'best of' cuts: root/<species>/*.wav or a CSV; group = tape",
            load=load_watkins,
            defaults={"group_pattern": r"^(\d{5})", "label_column": "label", "path_column": "path"},
            # cuts at 5-192 kHz: 32 kHz keeps whistles and clicks up to 16 kHz; cuts below it are upsampled,
            # which `zoo inspect` counts and the shortcut check weighs
            features={"sample_rate": 32000, "n_fft": 1024, "hop_length": 512, "n_mels": 64, "frames": 64},
        )
    )
