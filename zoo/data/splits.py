"""Train/val/test splits: the data set's own, or stratified by label and grouped by `group`."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from zoo.config import SplitConfig
from zoo.errors import ZooError


def assign_splits(table: pd.DataFrame, cfg: SplitConfig) -> pd.Series:
    """One of train/val/test per clip; clips of one group never straddle two splits.

    A `split` column is kept as the data set's own split; when it has no val clips, val is
    carved out of train (grouped). Without one, test and then val are cut by
    StratifiedGroupKFold with `cfg.seed`.
    """
    if "split" in table.columns:
        split = table["split"].copy()
        if not (split == "val").any():
            train = split == "train"
            val = _holdout(table[train], cfg.val / max(1e-9, 1 - cfg.test), cfg.seed, "val")
            split[train] = np.where(val, "val", "train")
        return split
    test = _holdout(table, cfg.test, cfg.seed, "test")
    rest = table[~test]
    val = _holdout(rest, cfg.val / (1 - cfg.test), cfg.seed, "val")
    split = pd.Series("train", index=table.index)
    split[test] = "test"
    split[rest.index[val]] = "val"
    return split


def _holdout(table: pd.DataFrame, fraction: float, seed: int, name: str) -> np.ndarray:
    """A boolean mask selecting about `fraction` of `table`, whole groups, stratified by label."""
    n_splits = max(2, round(1 / fraction))
    n_groups = table["group"].nunique()
    if n_groups < n_splits:
        raise ZooError(
            f"Only {n_groups} groups for a {fraction:.0%} {name} split (needs {n_splits}): "
            f"add data, lower splits.{name}, or give the data set its own split column."
        )
    folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    _, held = next(folds.split(np.zeros(len(table)), table["label"], table["group"]))
    mask = np.zeros(len(table), dtype=bool)
    mask[held] = True
    return mask
