"""Train/val/test splits: the data set's own, k folds, or stratified by label and grouped by `group`."""

from __future__ import annotations

from dataclasses import dataclass
from warnings import catch_warnings, filterwarnings

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from zoo.config import SplitConfig
from zoo.data.clips import SPLITS, class_names
from zoo.data.shortcuts import metadata_shortcut
from zoo.errors import ZooError


@dataclass
class SplitPlan:
    """The usable clips (decoded, duplicates resolved) with a `split` column, and what to tell the user."""

    clips: pd.DataFrame
    classes: list[str]
    warnings: list[str]
    # byte-identical files (action kept/dropped) and the same decoded audio across splits (action flagged):
    # md5, path, label, labels, across_labels, action; written as duplicates.csv
    duplicates: pd.DataFrame
    shortcut: dict | None = None  # how well recording metadata alone predicts the label (zoo.data.shortcuts)

    def counts(self) -> pd.DataFrame:
        """Clips per class and split (multi-label: a clip counts for each of its labels)."""
        clips = self.clips
        if "labels" in clips.columns:
            clips = clips.assign(label=clips["labels"].str.split(";")).explode("label")
        return (
            clips.groupby(["label", "split"])
            .size()
            .unstack(fill_value=0)
            .reindex(index=self.classes, columns=list(SPLITS), fill_value=0)
        )


def resolve_duplicates(
    clips: pd.DataFrame, policy: str = "drop"
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Byte-identical files (same md5). "drop": keep the first copy of a file found under one label, drop
    every copy of a file found under several labels. "keep": keep all. Returns the clips to use, every
    duplicate with its action (for duplicates.csv), and one summary line when there are any."""
    if policy not in ("drop", "keep"):
        raise ZooError(f'dataset.duplicates = {policy!r}: use "drop" or "keep".')
    usable = clips[clips["md5"] != ""]
    same = usable[usable.duplicated("md5", keep=False)]
    across = same.groupby("md5")["label"].transform("nunique") > 1
    first = ~same.duplicated("md5", keep="first")
    dropped = (across | ~first) if policy == "drop" else pd.Series(False, index=same.index)
    labels = same.groupby("md5")["label"].transform(lambda ls: "|".join(sorted(set(ls))))
    action = dropped.map({True: "dropped", False: "kept"})
    table = (
        same[["md5", "path", "label"]]
        .assign(labels=labels, across_labels=across, action=action)
        .sort_values(["md5", "path"])
    )
    messages = []
    if len(table):
        n_across, n_within = same[across]["md5"].nunique(), same[~across]["md5"].nunique()
        messages.append(
            f"{n_across + n_within} set(s) of byte-identical files ({len(table)} files): "
            f"{n_across} under different labels "
            f"({'every copy dropped' if policy == 'drop' else 'kept: duplicates = keep'}), {n_within} under "
            f"one label ({'first copy kept' if policy == 'drop' else 'all kept'}); listed in duplicates.csv"
        )
    return clips.drop(index=table.index[table["action"] == "dropped"]), table.reset_index(drop=True), messages


def plan_splits(
    clips: pd.DataFrame, cfg: SplitConfig, duplicates: str = "drop", folds: int = 1, fold: int = 1
) -> SplitPlan:
    """Assign train/val/test to the decodable clips of a prepared cache (``Prepared.clips``)."""
    usable = clips[clips["reason"] == ""] if "reason" in clips else clips
    if "md5" in usable:
        usable, same, warnings = resolve_duplicates(usable, duplicates)
    else:
        same, warnings = (
            pd.DataFrame(columns=["md5", "path", "label", "labels", "across_labels", "action"]),
            [],
        )
    if usable.empty:
        raise ZooError("No usable clips: every clip was skipped (see the reasons listed).")
    usable = usable.assign(split=assign_splits(usable, cfg, folds, fold, warnings))
    classes = class_names(usable)
    same = pd.concat([same, _same_audio_across_splits(usable, warnings)], ignore_index=True)
    plan = SplitPlan(usable, classes, warnings, same, metadata_shortcut(usable))
    if plan.shortcut and plan.shortcut["warning"]:
        warnings.append(plan.shortcut["warning"])
    counts = plan.counts()
    for name in SPLITS:
        missing = counts.index[counts[name] == 0].tolist()
        if missing and name == "train":
            raise ZooError(f"Class {missing[0]!r} has no usable training clips: add clips or drop the class.")
        if missing:
            warnings.append(
                f"{len(missing)} class(es) have no {name} clips ({', '.join(missing[:5])}"
                f"{'...' if len(missing) > 5 else ''}): too few clips or groups to appear in every split"
            )
    straddling = usable.groupby("group")["split"].nunique()
    straddling = straddling[straddling > 1]
    if len(straddling):
        warnings.append(
            f"{len(straddling)} group(s) have clips in more than one split (e.g. {straddling.index[0]!r}): "
            "the data set's own split lets them leak; results measure within-group accuracy"
        )
    if (usable["split"] == "val").sum() == 0:
        raise ZooError("The validation split is empty: add data or raise splits.val.")
    if (usable["split"] == "test").sum() == 0:
        raise ZooError(
            "The test split is empty: the data set's own split marks no usable clip 'test'; mark some, "
            "or leave the split column out so that the zoo cuts one (splits.test)."
        )
    return plan


def _same_audio_across_splits(usable: pd.DataFrame, warnings: list[str]) -> pd.DataFrame:
    """Clips whose audio is the same as a clip's in another split, by decoding rather than by bytes (the
    cache's `twin` column): flagged in one warning and listed (action "flagged"), not dropped."""
    if "twin" not in usable or not (usable["twin"] != "").any():
        return pd.DataFrame()
    split_of = dict(zip(usable["path"], usable["split"]))
    label_of = dict(zip(usable["path"], usable["label"]))
    rows = []
    for clip in usable[usable["twin"] != ""].itertuples():
        if clip.twin in split_of and split_of[clip.twin] != clip.split:
            labels = "|".join(sorted({clip.label, label_of[clip.twin]}))
            # each file of the pair, with the split of the other
            pair = (
                (clip.twin, label_of[clip.twin], clip.split),
                (clip.path, clip.label, split_of[clip.twin]),
            )
            for path, label, other in pair:
                action = f"flagged: the same decoded audio as a {other} clip"
                rows.append(
                    {
                        "md5": "",
                        "path": path,
                        "label": label,
                        "labels": labels,
                        "across_labels": "|" in labels,
                        "action": action,
                    }
                )
    if rows:
        warnings.append(
            f"{len(rows) // 2} pair(s) of files hold the same decoded audio (another bit depth or "
            "container) in different splits: the test split is not independent of training; "
            "listed in duplicates.csv"
        )
    return pd.DataFrame(rows)


def assign_splits(
    table: pd.DataFrame, cfg: SplitConfig, folds: int = 1, fold: int = 1, warnings: list[str] | None = None
) -> pd.Series:
    """One of train/val/test per clip.

    - folds > 1: fold `fold` (1-based) is test: the table's own `fold` column when it has one, else
      StratifiedGroupKFold(folds) by label and group; val is then carved from the rest, grouped.
    - a `split` column is the data set's own split; without val clips, val is carved from train, grouped
      as the test split is: by group, unless the data set's test split shares groups with train.
    - otherwise test and then val are cut by StratifiedGroupKFold with `cfg.seed`.
    Except where the data set's own split or folds say otherwise, one group never straddles two splits.
    """
    split = pd.Series("train", index=table.index)
    if folds > 1:
        if not 1 <= fold <= folds:
            raise ZooError(f"fold {fold} is not between 1 and {folds}.")
        if "fold" in table.columns:
            own = pd.to_numeric(table["fold"], errors="coerce")
            if sorted(own.dropna().unique()) != list(range(1, folds + 1)):
                raise ZooError(
                    f"The data set's fold column has folds {sorted(own.dropna().unique().tolist())}, "
                    f"not 1..{folds}: set protocol.folds to match."
                )
            test = (own == fold).to_numpy()
        else:
            test = _fold_mask(table, folds, fold - 1, cfg.seed, "fold", warnings)
    elif "split" in table.columns:
        split = table["split"].copy()
        test = (split == "test").to_numpy()
        if (split == "val").any():
            return split
    else:
        test = _fold_mask(table, max(2, round(1 / cfg.test)), 0, cfg.seed, "test", warnings)
    split[test] = "test"
    train = split == "train"
    rest = table[train]
    if set(table.loc[test, "group"]) & set(rest["group"]):
        # The data set's own test split shares groups with train (FSDD's official split: the same speakers):
        # val mirrors it, sharing groups too, or early stopping would judge another task than the test.
        rest = rest.assign(group=[f"clip {i}" for i in range(len(rest))])
    val = _fold_mask(rest, max(2, round((1 - test.mean()) / cfg.val)), 0, cfg.seed, "val", warnings)
    split[split.index[train][val]] = "val"
    return split


def _fold_mask(
    table: pd.DataFrame, n_splits: int, which: int, seed: int, name: str, warnings: list[str] | None = None
) -> np.ndarray:
    """A boolean mask selecting fold `which` of `n_splits`: whole groups, stratified by label. Classes with
    fewer groups than `n_splits` are said once in `warnings`, in the zoo's words (not scikit-learn's)."""
    n_groups = table["group"].nunique()
    if name != "fold" and 2 <= n_groups < n_splits:
        n_splits = n_groups  # few groups (e.g. 6 speakers): hold out one whole group rather than fail
    if n_groups < n_splits:
        raise ZooError(
            f"Only {n_groups} groups for a {1 / n_splits:.0%} {name} split (needs {n_splits}): "
            f"add data, change splits.{name if name != 'fold' else 'test'} or protocol.folds, "
            "or give the data set its own split."
        )
    per_class = table.groupby("label")["group"].nunique()
    small = per_class[per_class < n_splits]
    if len(small) and warnings is not None and not any("too few recordings" in w for w in warnings):
        warnings.append(
            f"{len(small)} class(es) have too few recordings (groups) to appear in every split "
            f"({', '.join(f'{c}: {n}' for c, n in small.head(5).items())}{'...' if len(small) > 5 else ''})"
        )
    folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    with catch_warnings():
        filterwarnings("ignore", message="The least populated class", category=UserWarning)
        for i, (_, held) in enumerate(folds.split(np.zeros(len(table)), table["label"], table["group"])):
            if i == which:
                mask = np.zeros(len(table), dtype=bool)
                mask[held] = True
                return mask
    raise AssertionError("unreachable")
