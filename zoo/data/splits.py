"""Train/val/test splits: the data set's own, k folds, or stratified by label and grouped by `group`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from zoo.config import SplitConfig
from zoo.data.clips import SPLITS
from zoo.errors import ZooError


@dataclass
class SplitPlan:
    """The usable clips (decoded, duplicates resolved) with a `split` column, and what to tell the user."""

    clips: pd.DataFrame
    classes: list[str]
    warnings: list[str]

    def counts(self) -> pd.DataFrame:
        return (self.clips.groupby(["label", "split"]).size().unstack(fill_value=0)
                .reindex(index=self.classes, columns=list(SPLITS), fill_value=0))


def resolve_duplicates(clips: pd.DataFrame, policy: str = "drop") -> tuple[pd.DataFrame, list[str]]:
    """Byte-identical files (same md5). "drop": keep the first copy of a file found under one label, drop
    every copy of a file found under several labels. "keep": keep all. Either way, say what was found."""
    if policy not in ("drop", "keep"):
        raise ZooError(f"dataset.duplicates = {policy!r}: use \"drop\" or \"keep\".")
    usable = clips[clips["md5"] != ""]
    messages, drop = [], []
    for _, same in usable[usable.duplicated("md5", keep=False)].groupby("md5", sort=False):
        labels = sorted(same["label"].unique())
        paths = same["path"].tolist()
        if len(labels) > 1:
            messages.append(f"byte-identical files under different labels ({', '.join(labels)}): {', '.join(paths)}"
                            + (" - all dropped" if policy == "drop" else " - kept (duplicates = keep)"))
            drop += list(same.index)
        else:
            messages.append(f"byte-identical files under {labels[0]!r}: {', '.join(paths)}"
                            + (" - first kept" if policy == "drop" else " - all kept"))
            drop += list(same.index[1:])
    if policy == "keep":
        drop = []
    return clips.drop(index=drop), messages


def plan_splits(clips: pd.DataFrame, cfg: SplitConfig, duplicates: str = "drop", folds: int = 1, fold: int = 1) -> SplitPlan:
    """Assign train/val/test to the decodable clips of a prepared cache (``Prepared.clips``)."""
    usable = clips[clips["reason"] == ""] if "reason" in clips else clips
    usable, warnings = resolve_duplicates(usable, duplicates) if "md5" in usable else (usable, [])
    if usable.empty:
        raise ZooError("No usable clips: every clip was skipped (see the reasons listed).")
    usable = usable.assign(split=assign_splits(usable, cfg, folds, fold))
    classes = sorted(usable["label"].unique())
    plan = SplitPlan(usable, classes, warnings)
    counts = plan.counts()
    for name in SPLITS:
        missing = counts.index[counts[name] == 0].tolist()
        if missing and name == "train":
            raise ZooError(f"Class {missing[0]!r} has no usable training clips: add clips or drop the class.")
        if missing:
            warnings.append(f"{len(missing)} class(es) have no {name} clips ({', '.join(missing[:5])}"
                            f"{'...' if len(missing) > 5 else ''}): too few clips or groups to appear in every split")
    straddling = usable.groupby("group")["split"].nunique()
    straddling = straddling[straddling > 1]
    if len(straddling):
        warnings.append(f"{len(straddling)} group(s) have clips in more than one split (e.g. {straddling.index[0]!r}): "
                        "the data set's own split lets them leak; results measure within-group accuracy")
    if (usable["split"] == "val").sum() == 0:
        raise ZooError("The validation split is empty: add data or raise splits.val.")
    return plan


def assign_splits(table: pd.DataFrame, cfg: SplitConfig, folds: int = 1, fold: int = 1) -> pd.Series:
    """One of train/val/test per clip.

    - folds > 1: fold `fold` (1-based) is test: the table's own `fold` column when it has one, else
      StratifiedGroupKFold(folds) by label and group; val is then carved from the rest, grouped.
    - a `split` column is the data set's own split; without val clips, val is carved from train.
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
                raise ZooError(f"The data set's fold column has folds {sorted(own.dropna().unique().tolist())}, "
                               f"not 1..{folds}: set protocol.folds to match.")
            test = (own == fold).to_numpy()
        else:
            test = _fold_mask(table, folds, fold - 1, cfg.seed, "fold")
    elif "split" in table.columns:
        split = table["split"].copy()
        test = (split == "test").to_numpy()
        if (split == "val").any():
            return split
    else:
        test = _fold_mask(table, max(2, round(1 / cfg.test)), 0, cfg.seed, "test")
    split[test] = "test"
    train = split == "train"
    val = _fold_mask(table[train], max(2, round((1 - test.mean()) / cfg.val)), 0, cfg.seed, "val")
    split[split.index[train][val]] = "val"
    return split


def _fold_mask(table: pd.DataFrame, n_splits: int, which: int, seed: int, name: str) -> np.ndarray:
    """A boolean mask selecting fold `which` of `n_splits`: whole groups, stratified by label."""
    n_groups = table["group"].nunique()
    if name != "fold" and 2 <= n_groups < n_splits:
        n_splits = n_groups  # few groups (e.g. 6 speakers): hold out one whole group rather than fail
    if n_groups < n_splits:
        raise ZooError(
            f"Only {n_groups} groups for a {1 / n_splits:.0%} {name} split (needs {n_splits}): "
            f"add data, change splits.{name if name != 'fold' else 'test'} or protocol.folds, or give the data set its own split."
        )
    folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    for i, (_, held) in enumerate(folds.split(np.zeros(len(table)), table["label"], table["group"])):
        if i == which:
            mask = np.zeros(len(table), dtype=bool)
            mask[held] = True
            return mask
    raise AssertionError("unreachable")
