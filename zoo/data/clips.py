"""Clip tables: read them from a folder tree or an annotations CSV, and check their shape."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

from zoo.errors import ZooError, ZooWarning

# what counts as audio in a folder (soundfile reads these; mp3 with libsndfile 1.1+)
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif", ".mp3")

SPLITS = ("train", "val", "test")
NO_LABEL = "(none)"  # a multi-label clip with none of the classes: its stratum when splitting
# The names data sets give their splits, and the zoo's for each.
SPLIT_SYNONYMS = {
    "training": "train",
    "validation": "val",
    "valid": "val",
    "dev": "val",
    "development": "val",
    "testing": "test",
    "eval": "test",
    "evaluation": "test",
}


def scan_folder(root: Path) -> pd.DataFrame:
    """`root/<label>/*.wav|flac|ogg|mp3` -> clip table; each file is its own group."""
    root = Path(root)
    if not root.is_dir():
        raise ZooError(
            f"Data root {root} does not exist or is not a folder: "
            "pass --data-root DIR with one folder per class."
        )
    rows = []
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not class_dirs:
        raise ZooError(f"Data root {root} has no class folders: put clips in {root}/<label>/*.wav.")
    for class_dir in class_dirs:
        # not is_file(): a broken link stays in the table, to be listed as skipped with its reason
        files = sorted(
            p for p in class_dir.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and not p.is_dir()
        )
        if not files:
            raise ZooError(
                f"Class folder {class_dir} has no audio files ({', '.join(AUDIO_SUFFIXES)}): "
                "add clips or remove the folder."
            )
        rows += [{"path": str(f), "label": class_dir.name, "group": str(f)} for f in files]
    return pd.DataFrame(rows)


def read_annotations(
    csv_path: Path,
    path_column: str = "path",
    label_column: str = "label",
    group_column: str = "group",
    split_column: str = "split",
    labels_column: str = "labels",
    classes: list | tuple = (),
) -> pd.DataFrame:
    """An annotations CSV -> clip table. Relative paths are relative to the CSV's folder.

    Required columns: path and label (one class per clip), or path and labels (several per clip, separated
    by ";", an empty cell for none: a multi-label data set), or path and one 0/1 column per class named in
    `classes` (multi-hot: multi-label too); optional: group (else each clip is its own group) and split
    (train/val/test; else the zoo splits). Column names can be remapped by the options.
    """
    csv_path = Path(csv_path)
    if csv_path.is_dir():
        found = [csv_path / n for n in ("annotations.csv", "metadata.csv") if (csv_path / n).is_file()]
        if not found:
            raise ZooError(
                f"{csv_path} is a folder without annotations.csv or metadata.csv: "
                "pass the CSV file as --data-root."
            )
        csv_path = found[0]
    if not csv_path.is_file():
        raise ZooError(
            f"Annotations file {csv_path} does not exist: pass --data-root path/to/annotations.csv."
        )
    try:
        raw = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    except Exception as exc:
        raise ZooError(f"{csv_path}: cannot read it as CSV ({exc}); fix the file.") from None
    multi = bool(classes) or (label_column not in raw.columns and labels_column in raw.columns)
    needed = [("path", path_column)] + ([] if multi else [("label", label_column)])
    needed += [("class", str(c)) for c in classes]
    for role, column in needed:
        if column not in raw.columns:
            raise ZooError(
                f"{csv_path}: no {column!r} column for the {role}; columns are {', '.join(raw.columns)}. "
                f"Rename it or set dataset.options.{role}_column (labels_column for several per clip)."
            )
    paths = [str(p) if Path(p).is_absolute() else str(csv_path.parent / p) for p in raw[path_column]]
    table = pd.DataFrame({"path": paths})
    if classes:  # multi-hot: a clip holds the classes whose column is 1
        hot = raw[[str(c) for c in classes]].apply(
            lambda v: v.str.strip().str.lower().isin(("1", "1.0", "true"))
        )
        table["labels"] = [";".join(str(c) for c, on in zip(classes, row) if on) for row in hot.to_numpy()]
    elif multi:
        table["labels"] = raw[labels_column]
    else:
        table["label"] = raw[label_column]
    table["group"] = raw[group_column] if group_column in raw.columns else table["path"]
    if split_column in raw.columns:
        table["split"] = raw[split_column].str.strip().str.lower()
    return table


def check_clip_table(table: pd.DataFrame, where: str) -> pd.DataFrame:
    """Validate a loader's clip table and normalise its types; errors name `where`."""
    if not isinstance(table, pd.DataFrame):
        raise ZooError(f"{where}: the loader returned {type(table).__name__}, not a pandas DataFrame.")
    missing = [
        c for c in ("path", "label") if c not in table.columns and not (c == "label" and "labels" in table)
    ]
    if missing:
        raise ZooError(
            f"{where}: the clip table has no {missing[0]!r} column; it needs path, label[, group, split]."
        )
    if table.empty:
        raise ZooError(f"{where}: no clips found; check the data root.")
    table = table.copy()
    table["path"] = table["path"].astype(str)
    if "labels" in table.columns:  # several labels per clip
        return _check_labels(table, where)
    table["label"] = table["label"].astype(str).str.strip()
    if (table["label"] == "").any():
        bad = table.loc[table["label"] == "", "path"].iloc[0]
        raise ZooError(f"{where}: clip {bad} has an empty label; give every clip a label.")
    table["group"] = table["group"].astype(str) if "group" in table.columns else table["path"]
    if "split" in table.columns:
        table["split"] = _canonical_splits(table["split"], where)
    if table["label"].nunique() < 2:
        raise ZooError(
            f"{where}: only one class ({table['label'].iloc[0]!r}); a classifier needs at least two."
        )
    return table.reset_index(drop=True)


def _check_labels(table: pd.DataFrame, where: str) -> pd.DataFrame:
    """A multi-label clip table: `labels` as sorted unique labels joined by ";" ("" for none), and `label`
    the first of them (NO_LABEL for none), by which splits are stratified."""
    table["labels"] = [
        ";".join(sorted({part.strip() for part in str(cell).split(";") if part.strip()}))
        for cell in table["labels"].fillna("")
    ]
    table["label"] = [cell.split(";")[0] if cell else NO_LABEL for cell in table["labels"]]
    table["group"] = table["group"].astype(str) if "group" in table.columns else table["path"]
    if "split" in table.columns:
        table["split"] = _canonical_splits(table["split"], where)
    if len(class_names(table)) < 2:
        raise ZooError(f"{where}: fewer than two classes in its labels; a classifier needs at least two.")
    return table.reset_index(drop=True)


def is_multilabel(table: pd.DataFrame) -> bool:
    return "labels" in table.columns


def class_names(table: pd.DataFrame) -> list[str]:
    """The classes of a clip table: its labels, or (multi-label) every label any clip holds."""
    if not is_multilabel(table):
        return sorted(table["label"].unique())
    return sorted({part for cell in table["labels"] for part in str(cell).split(";") if part})


def targets(table: pd.DataFrame, classes: list[str]):
    """What a model learns of each clip: its class index (clips,), int64; multi-label, its labels as a
    (clips, classes) 0/1 float32 array."""
    import numpy as np

    index = {c: i for i, c in enumerate(classes)}
    if not is_multilabel(table):
        return np.array([index[label] for label in table["label"]], dtype=np.int64)
    hot = np.zeros((len(table), len(classes)), dtype=np.float32)
    for row, cell in enumerate(table["labels"]):
        for part in str(cell).split(";"):
            if part in index:
                hot[row, index[part]] = 1.0
    return hot


def _canonical_splits(split: pd.Series, where: str) -> pd.Series:
    """train/val/test from the common synonyms (validation, dev, ...), saying which mapping was used."""
    split = split.astype(str).str.strip().str.lower()
    bad = sorted(set(split) - set(SPLITS) - set(SPLIT_SYNONYMS))
    if bad:
        raise ZooError(
            f"{where}: split column has {bad[0]!r}; use train, val or test (or {', '.join(SPLIT_SYNONYMS)})."
        )
    used = sorted(set(split) & set(SPLIT_SYNONYMS))
    if used:
        warnings.warn(
            ZooWarning(
                f"{where}: split names read as " + ", ".join(f"{u} = {SPLIT_SYNONYMS[u]}" for u in used)
            )
        )
    return split.replace(SPLIT_SYNONYMS)
