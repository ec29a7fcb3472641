"""Build and load the feature cache: every window of every usable clip in one array file, keyed by a
fingerprint of the clip table and the FeatureConfig (splits are cheap index sets made at load time)."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import struct
import warnings
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from zoo.config import FeatureConfig
from zoo.data.audio import Decoded, file_of
from zoo.data.clips import targets
from zoo.data.decode import load_clip
from zoo.data.featurise import Progress, featurise_table
from zoo.data.twins import same_audio
from zoo.errors import ZooError, ZooWarning
from zoo.io import read_json, sweep_temporaries, write_atomic, write_json

TABLE_COLUMNS = ("path", "label", "group", "split", "fold", "labels")  # labels: multi-label only
CLIPS_TYPES = {"label": str, "group": str, "labels": str}
CACHE_FORMAT = 5  # bump when a file of the cache changes shape: older caches are then built anew
FEATURES = "features.npy"  # (windows, 1, n_mels, frames) float32 log-mels, as numpy saves an array
INDEX = "index.pt"  # per window: clip (the row of clips.csv it came from), start (where in it, in frames)
NPY_HEADER = 128  # bytes of the .npy header: written before the windows are counted, and again after


class Rows:
    """Some rows of a memory-mapped tensor, read from disk only when indexed: a split too large to copy
    into memory. Indexing (by tensor or slice) gives a real tensor, as indexing the copy would."""

    def __init__(self, base: torch.Tensor, rows: torch.Tensor):
        self.base, self.rows = base, rows
        self.shape = (len(rows), *base.shape[1:])
        self.nbytes = len(rows) * base[:1].nbytes

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, idx) -> torch.Tensor:
        return self.base[self.rows[idx]]

    def to(self, device) -> "Rows | torch.Tensor":
        return self if torch.device(device).type == "cpu" else self.base[self.rows].to(device)

    def is_pinned(self) -> bool:
        return False


def fits_in_memory(nbytes: int) -> bool:
    """Whether `nbytes` is under half of the memory available now."""
    try:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return True
    return nbytes < available / 2


@dataclass
class Split:
    """One split in memory: raw log-mel windows with their class, and the clips they came from."""

    x: torch.Tensor | Rows  # (windows, 1, n_mels, frames): in memory, or memory-mapped when too large
    y: torch.Tensor  # (windows,) class index; multi-label: (windows, classes) 0/1
    clip: torch.Tensor  # (windows,) index into `paths`; a clip's windows are adjacent, in time order
    start: torch.Tensor  # (windows,) where each window starts in its clip, in frames
    paths: list[str]  # one per clip
    clip_y: torch.Tensor  # (clips,) class index; multi-label: (clips, classes) 0/1


@dataclass
class Prepared:
    """A built cache. `clips` has one row per clip of the table, with what decoding found:
    sample_rate, channels, duration_s, md5, windows (0 when skipped) and reason (why it was skipped)."""

    dir: Path
    meta: dict

    @property
    def fingerprint(self) -> str:
        """The data fingerprint: what the data is (see data_fingerprint), not where it lives."""
        return self.meta["data_fingerprint"]

    def damage(self) -> str | None:
        """Why this cache cannot be used (a file missing, truncated or unreadable), or None when whole."""
        meta = self.meta
        needed = {"data_fingerprint", "features", "clips", "windows"}
        if not isinstance(meta, dict) or not needed <= set(meta):
            return "meta.json lacks what a cache records (damaged or edited)"
        try:
            if meta.get("features_bytes") != (self.dir / FEATURES).stat().st_size:
                return f"{FEATURES} has another size than when it was written (truncated or replaced)"
            if len(self.clips) != meta["clips"]:
                return f"clips.csv has {len(self.clips)} clips, not {meta['clips']}"
            x, clip, start = self.tensors["x"], self.tensors["clip"], self.tensors["start"]
            f = meta["features"]
            shape = (meta["windows"], 1, f["n_mels"], f["frames"])
            if tuple(x.shape) != shape or not len(clip) == len(start) == len(x):
                return f"{FEATURES} holds {tuple(x.shape)} windows, not what meta.json says"
        except (
            OSError,
            EOFError,
            KeyError,
            RuntimeError,
            ValueError,
            pickle.UnpicklingError,
            pd.errors.ParserError,
        ) as exc:
            return f"cannot read it ({type(exc).__name__}: {' '.join(str(exc).split())[:120]})"
        return None

    def recovered(self) -> str | None:
        """Whether a clip skipped when the cache was built can be read now (e.g. its permissions fixed)."""
        for item in self.skipped:
            if isinstance(load_clip(item["path"]), Decoded):
                return f"{item['path']} was skipped ({item['reason']}) but reads now"
        return None

    @cached_property
    def clips(self) -> pd.DataFrame:
        return pd.read_csv(self.dir / "clips.csv", dtype=CLIPS_TYPES, keep_default_na=False)

    @cached_property
    def tensors(self) -> dict:
        """x: (windows, 1, n_mels, frames) raw log-mels; clip: (windows,) row of `clips` each came from;
        start: (windows,) where each starts in its clip, in frames."""
        return {"x": mapped_windows(self.dir), **torch.load(self.dir / INDEX, weights_only=True)}

    def split(self, plan, name: str, in_memory: bool | None = None) -> Split:
        """The windows of the clips that `plan` (a SplitPlan) puts in split `name`: copied into memory,
        or (in_memory=False, or None and too large for memory) read from the memory-mapped file by index."""
        rows = plan.clips[plan.clips["split"] == name]
        clip_y = torch.from_numpy(targets(rows, plan.classes))
        position = torch.full((len(self.clips),), -1, dtype=torch.long)
        position[torch.tensor(rows.index.to_numpy(), dtype=torch.long)] = torch.arange(len(rows))
        owner = position[self.tensors["clip"]]
        keep = owner >= 0
        clip = owner[keep]
        base = self.tensors["x"]
        if in_memory is None:
            in_memory = fits_in_memory(int(keep.sum()) * base[:1].nbytes)
        x = base[keep] if in_memory else Rows(base, keep.nonzero().squeeze(1))
        return Split(x, clip_y[clip], clip, self.tensors["start"][keep], rows["path"].tolist(), clip_y)

    def resampling(self) -> str:
        """How clips of different native rates are made comparable: the stated choice, with its counts."""
        rate = self.meta["features"]["sample_rate"]
        rates = self.clips.loc[self.clips["reason"] == "", "sample_rate"]
        below, above = rates[rates < rate], rates[rates > rate]
        text = f"every clip resampled to {rate} Hz (torchaudio windowed sinc)"
        if len(below):
            text += (
                f"; {len(below)} of {len(rates)} clips were recorded below it ({below.min()}-{below.max()} "
                "Hz): upsampled, they hold nothing above their own Nyquist frequency"
            )
        if len(above):
            text += f"; {len(above)} were recorded above it and are low-passed at {rate / 2:g} Hz"
        return text

    @property
    def skipped(self) -> list[dict]:
        bad = self.clips[self.clips["reason"] != ""]
        return bad[["path", "reason"]].to_dict("records")


def cache_key(table: pd.DataFrame, features: FeatureConfig) -> str:
    """Where the cache of this clip table and FeatureConfig lives: a cheap hash of the table (with each
    file's size and mtime) and the FeatureConfig. Not the data fingerprint (see data_fingerprint)."""
    h = hashlib.sha256(f"cache format {CACHE_FORMAT}".encode())
    h.update(json.dumps(asdict(features), sort_keys=True).encode())
    columns = [c for c in TABLE_COLUMNS if c in table.columns]
    h.update(repr(columns).encode())
    for row in table[columns].itertuples(index=False):
        try:
            st = os.stat(file_of(row[0]))
            stamp = f"{st.st_size}:{st.st_mtime_ns}"
        except OSError:
            stamp = "missing"
        h.update(("\t".join(map(str, row)) + "\t" + stamp + "\n").encode())
    return h.hexdigest()[:16]


def data_fingerprint(clips: pd.DataFrame) -> str:
    """What the data is, not where it lives: each usable file's md5 with its label, its split and fold
    when the data set gives them, and which files share a group (group names and paths left out)."""
    usable = clips[clips["md5"] != ""]
    members = usable.groupby("group")["md5"].agg(
        lambda m: hashlib.sha256(" ".join(sorted(m)).encode()).hexdigest()
    )
    columns = [c for c in ("split", "fold", "labels") if c in usable.columns]
    rows = sorted(
        zip(
            usable["md5"],
            usable["label"],
            usable["group"].map(members),
            *(usable[c].astype(str) for c in columns),
        )
    )
    h = hashlib.sha256(repr(columns).encode())
    for row in rows:
        h.update(("\t".join(row) + "\n").encode())
    return h.hexdigest()[:16]


def mapped_windows(folder: Path) -> torch.Tensor:
    """A cache's windows, memory-mapped privately (writable, the file untouched): only what is used pages
    in."""
    return torch.from_numpy(np.load(Path(folder) / FEATURES, mmap_mode="c"))


def _npy_header(shape: tuple[int, ...]) -> bytes:
    """A .npy (format 1.0) header for float32 `shape`, NPY_HEADER bytes long whatever the shape, so that it
    can be written before the windows are counted and rewritten in place after."""
    text = f"{{'descr': '{np.dtype(np.float32).str}', 'fortran_order': False, 'shape': {shape!r}, }}"
    text = text.ljust(NPY_HEADER - 11) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode("latin1")


def prepare(
    table: pd.DataFrame, features: FeatureConfig, cache_root: Path, progress: Progress | None = None
) -> Prepared:
    """The cache for this clip table and FeatureConfig: reused when its key matches and it is whole, else
    built. Call it under the lock of `cache_root` (zoo.project.Project.prepared does).

    A damaged cache (a truncated features.npy, say) is rebuilt, and so is one whose skipped clips now decode
    (a file whose permissions were fixed): a skip is never cached for good. Clips are featurised by a pool
    of threads, a chunk each (zoo.data.featurise), and their windows written to features.npy as they come,
    so that memory holds only the chunks in flight, however large the data set. Unusable clips are kept in
    clips.csv with the reason.
    """
    folder = Path(cache_root) / cache_key(table, features)
    if (folder / "meta.json").is_file():
        try:
            prepared = Prepared(folder, read_json(folder / "meta.json"))
            problem = prepared.damage() or prepared.recovered()
        except ZooError:  # meta.json itself is not JSON (truncated, overwritten)
            problem = "meta.json is damaged"
        if problem is None:
            return prepared
        warnings.warn(ZooWarning(f"feature cache {folder}: {problem}; rebuilding it."))
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    sweep_temporaries(folder)
    table = table[[c for c in TABLE_COLUMNS if c in table.columns]].reset_index(drop=True)
    built: dict = {}

    def write_windows(f) -> None:  # a header, each chunk's windows as they come, the header again
        shape = (0, 1, features.n_mels, features.frames)
        f.write(_npy_header(shape))

        def write(x: torch.Tensor) -> None:
            f.write(memoryview(x.contiguous().numpy()))

        built["info"], built["index"] = featurise_table(table, features, write, progress)
        f.seek(0)
        f.write(_npy_header((len(built["index"]["clip"]), *shape[1:])))

    write_atomic(folder / FEATURES, write_windows)
    info, index = built["info"], built["index"]
    clips = pd.concat([table, pd.DataFrame(info, index=table.index)], axis=1)
    empties = {"sample_rate": 0, "channels": 0, "bits": 0, "peak_db": 0.0, "duration_s": 0.0, "md5": ""}
    for column, empty in empties.items():
        clips[column] = clips[column].fillna(empty).astype(type(empty)) if column in clips else empty
    x = mapped_windows(folder)
    clips["twin"] = same_audio(clips, x, index["clip"])
    write_atomic(folder / INDEX, lambda f: torch.save(index, f))
    write_atomic(folder / "clips.csv", lambda f: f.write(clips.to_csv(index=False).encode()))
    meta = {
        "cache_key": folder.name,
        "data_fingerprint": data_fingerprint(clips),
        "features": asdict(features),
        "clips": len(clips),
        "windows": len(x),
        "skipped": int((clips["reason"] != "").sum()),
        "features_bytes": (folder / FEATURES).stat().st_size,
    }
    write_json(folder / "meta.json", meta)  # written last: its presence marks a complete cache
    return Prepared(folder, meta)
