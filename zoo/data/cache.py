"""Build and load the feature cache: one tensor file per split, keyed by a data fingerprint."""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import pandas as pd
import torch

from zoo.config import FeatureConfig, SplitConfig
from zoo.data.audio import DecodeError, fit_length, load_mono
from zoo.data.clips import SPLITS
from zoo.data.features import LogMel
from zoo.data.splits import assign_splits
from zoo.errors import ZooError
from zoo.io import write_atomic, write_json

CHUNK = 256  # clips decoded and turned into features at a time: memory is bounded by the output
Progress = Callable[[int, int, int], None]  # (clips done, clips in all, clips skipped)


@dataclass
class Split:
    """One split in memory: raw log-mels (N, 1, n_mels, frames), class indices, clip paths."""

    x: torch.Tensor
    y: torch.Tensor
    paths: list[str]


@dataclass
class Prepared:
    """A built cache: where it is and what meta.json says."""

    dir: Path
    meta: dict

    @property
    def classes(self) -> list[str]:
        return self.meta["classes"]

    @property
    def fingerprint(self) -> str:
        return self.meta["fingerprint"]

    @property
    def skipped(self) -> list[dict]:
        return self.meta["skipped"]

    def load(self, split: str) -> Split:
        data = torch.load(self.dir / f"{split}.pt", weights_only=True)
        return Split(x=data["x"], y=data["y"], paths=self.meta["paths"][split])

    def stats(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-mel-bin mean and std of the train split, shaped (1, 1, n_mels, 1)."""
        mean = torch.tensor(self.meta["mean"]).view(1, 1, -1, 1)
        std = torch.tensor(self.meta["std"]).view(1, 1, -1, 1)
        return mean, std


def fingerprint(table: pd.DataFrame, features: FeatureConfig, splits: SplitConfig) -> str:
    """Hash of the clip table (with each file's size and mtime), the FeatureConfig and the split settings."""
    h = hashlib.sha256()
    h.update(json.dumps([asdict(features), asdict(splits)], sort_keys=True).encode())
    columns = [c for c in ("path", "label", "group", "split") if c in table.columns]
    for row in table[columns].itertuples(index=False):
        try:
            st = os.stat(row[0])
            stamp = f"{st.st_size}:{st.st_mtime_ns}"
        except OSError:
            stamp = "missing"
        h.update(("\t".join(map(str, row)) + "\t" + stamp + "\n").encode())
    return h.hexdigest()[:16]


def prepare(table: pd.DataFrame, features: FeatureConfig, splits: SplitConfig, cache_root: Path,
            progress: Progress | None = None) -> Prepared:
    """The cache for this clip table and config: reused when its fingerprint matches, else built.

    Unreadable clips are skipped and listed in meta.json ("skipped": path and reason).
    """
    key = fingerprint(table, features, splits)
    folder = Path(cache_root) / key
    if (folder / "meta.json").is_file():
        return Prepared(folder, json.loads((folder / "meta.json").read_text()))
    table = table.assign(split=assign_splits(table, splits))
    classes = sorted(table["label"].unique())
    index = {c: i for i, c in enumerate(classes)}
    logmel = LogMel(features)
    parts: dict[str, list] = {s: [] for s in SPLITS}
    skipped: list[dict] = []
    kept_rows: list[int] = []

    def decode(path: str):
        try:
            return fit_length(load_mono(path, features.sample_rate), features.samples)
        except FileNotFoundError:
            return DecodeError("file not found")
        except DecodeError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for start in range(0, len(table), CHUNK):
            chunk = table.iloc[start:start + CHUNK]
            waves = list(pool.map(decode, chunk["path"]))
            good = [i for i, w in enumerate(waves) if isinstance(w, torch.Tensor)]
            skipped += [{"path": p, "reason": str(w)} for p, w in zip(chunk["path"], waves) if isinstance(w, DecodeError)]
            if good:
                with torch.inference_mode():
                    mels = logmel(torch.stack([waves[i] for i in good]))
                for mel, i in zip(mels, good):
                    parts[chunk["split"].iloc[i]].append(mel)
                kept_rows += [start + i for i in good]
            if progress:
                progress(min(start + CHUNK, len(table)), len(table), len(skipped))

    kept = table.iloc[kept_rows]
    counts = kept.groupby(["label", "split"]).size().unstack(fill_value=0).reindex(index=classes, columns=list(SPLITS), fill_value=0)
    empty = counts.index[counts["train"] == 0].tolist()
    if empty:
        raise ZooError(f"Class {empty[0]!r} has no usable training clips (after skipping unreadable ones): add clips or drop the class.")
    if kept[kept.split == "test"].empty:
        raise ZooError("The test split is empty: add data or raise splits.test.")

    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name in SPLITS:
        rows = kept[kept.split == name]
        x = torch.stack(parts[name]) if parts[name] else torch.empty(0, 1, features.n_mels, features.frames)
        y = torch.tensor([index[label] for label in rows["label"]], dtype=torch.long)
        write_atomic(folder / f"{name}.pt", lambda f, x=x, y=y: torch.save({"x": x, "y": y}, f))
        paths[name] = rows["path"].tolist()
        if name == "train":
            mean = x.mean(dim=(0, 1, 3))
            std = x.std(dim=(0, 1, 3)).clamp_min(1e-3)
    meta = {
        "fingerprint": key,
        "classes": classes,
        "features": asdict(features),
        "splits": asdict(splits),
        "counts": {c: counts.loc[c].to_dict() for c in classes},
        "clips": len(table),
        "mean": mean.tolist(),
        "std": std.tolist(),
        "skipped": skipped,
        "paths": paths,
    }
    write_json(folder / "meta.json", meta)  # written last: its presence marks a complete cache
    return Prepared(folder, meta)
