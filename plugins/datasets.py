"""The built-in data sets: `synthetic` (the embedded default), `folder` and `csv`."""

from __future__ import annotations

from pathlib import Path

import zoo


def load_synthetic(
    root: Path,
    recordings: int = 16,
    clips_per_recording: int = 4,
    seed: int = 0,
    mix: int = 1,
    kinds: int = 6,
):
    from zoo_plugins.synthetic import KINDS, generate  # numpy and soundfile only when used

    for name, value in (("recordings", recordings), ("clips_per_recording", clips_per_recording)):
        if value < 1:
            raise zoo.ZooError(f"dataset.options.{name} = {value}: use 1 or more.")

    if mix < 1:
        raise zoo.ZooError(
            f"dataset.options.mix = {mix}: use 1 (one call per clip) or more (several labels)."
        )
    if not 2 <= kinds <= len(KINDS):
        raise zoo.ZooError(f"dataset.options.kinds = {kinds}: use 2 to {len(KINDS)} (kinds of sound).")
    return generate(
        root, recordings=recordings, clips_per_recording=clips_per_recording, seed=seed, mix=mix, kinds=kinds
    )


def load_folder(root: Path):
    from zoo.data.clips import scan_folder  # pandas only when used

    return scan_folder(root)


def load_csv(
    root: Path,
    path_column: str = "path",
    label_column: str = "label",
    group_column: str = "group",
    split_column: str = "split",
    labels_column: str = "labels",
    classes: list = (),
):
    from zoo.data.clips import read_annotations

    return read_annotations(
        root,
        path_column=path_column,
        label_column=label_column,
        group_column=group_column,
        split_column=split_column,
        labels_column=labels_column,
        classes=list(classes),
    )


def load_raven(
    root: Path,
    window: float = 5.0,
    hop: float = 2.5,
    min_overlap: float = 0.5,
    min_share: float = 0.5,
    label_column: str = "",
):
    from zoo.data.raven import clip_table

    return clip_table(root, window, hop, min_overlap, min_share, label_column or None)


@zoo.hookimpl
def register_datasets(register):
    register(
        zoo.DatasetSpec(
            name="synthetic",
            summary="generated animal-call-like sounds: 6 kinds, or up to 12 (whistles, sweeps, clicks...)",
            load=load_synthetic,
            needs_root=False,
            features={"sample_rate": 16000, "n_fft": 512, "hop_length": 256, "n_mels": 64, "frames": 64},
            defaults={"recordings": 16, "clips_per_recording": 4, "seed": 0, "mix": 1, "kinds": 6},
        )
    )
    register(
        zoo.DatasetSpec(
            name="folder",
            summary="root/<label>/*.wav|flac|ogg|mp3, one folder per class; each file its own group",
            load=load_folder,
        )
    )
    register(
        zoo.DatasetSpec(
            name="raven",
            summary="recordings with Raven selection tables beside them, cut into labelled windows",
            load=load_raven,
            defaults={"window": 5.0, "hop": 2.5, "min_overlap": 0.5, "min_share": 0.5, "label_column": ""},
        )
    )
    register(
        zoo.DatasetSpec(
            name="csv",
            summary="an annotations CSV: path, label (or labels: several, ';'-separated)[, group][, split]",
            load=load_csv,
            defaults={
                "path_column": "path",
                "label_column": "label",
                "group_column": "group",
                "split_column": "split",
                "labels_column": "labels",
                "classes": [],
            },
        )
    )
