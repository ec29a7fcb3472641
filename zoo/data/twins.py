"""Find clips that hold the same audio as another file (another bit depth, container or level of
compression), which their md5 does not show: the cache records each one's twin."""

from __future__ import annotations

import pandas as pd
import torch

BLOCK = 256  # windows profiled at a time: memory bounded, however large the data set


def same_audio(
    clips: pd.DataFrame, x: torch.Tensor, owners: torch.Tensor, tolerance_db: float = 1.0
) -> list[str]:
    """For each clip, the path of an earlier clip with the same audio in another file (another bit depth,
    container or level of compression), or "": same duration, and first windows within `tolerance_db` of each
    other wherever either is within 60 dB of its peak. Byte-identical files are left to their md5.

    Only clips that share their duration with another are compared: first by their profiles (each mel bin's
    mean over time, floored 60 dB below the window's peak; computed for all at once), then, where those are
    close, window to window."""
    none = len(owners)
    first = torch.full((len(clips),), none, dtype=torch.long)  # the first window of each clip
    first = first.scatter_reduce(0, owners, torch.arange(len(owners)), reduce="amin").numpy()
    twin = [""] * len(clips)
    usable = clips[(clips["reason"] == "").to_numpy() & (first < none)]
    duration = usable["duration_s"].round(3)
    usable = usable[duration.duplicated(keep=False).to_numpy()]
    rows, windows = usable.index.to_numpy(), torch.from_numpy(first[usable.index])
    profile, floor = _profiles(x, windows)
    md5, paths = clips["md5"].to_numpy(), clips["path"].to_numpy()
    for members in pd.Series(rows).groupby(duration[usable.index].to_numpy()).indices.values():
        near = torch.cdist(profile[members], profile[members], p=float("inf")) < tolerance_db
        for i, j in torch.nonzero(torch.tril(near, diagonal=-1)).tolist():  # i later than j
            i, j = members[i], members[j]
            a, b = rows[i], rows[j]
            if twin[a] or md5[a] == md5[b]:
                continue
            wi, wj = x[windows[i]].flatten(), x[windows[j]].flatten()
            loud = torch.maximum(wi, wj) > min(floor[i], floor[j])
            if ((wi - wj).abs()[loud].max() < tolerance_db).item():
                twin[a] = paths[b]
    return twin


def _profiles(x: torch.Tensor, windows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Of the windows x[windows]: each mel bin's mean over time, floored 60 dB below the window's peak
    ((k, n_mels)), and that floor ((k,))."""
    profile, floor = torch.empty(len(windows), x.shape[2]), torch.empty(len(windows))
    for s in range(0, len(windows), BLOCK):
        block = x[windows[s : s + BLOCK]].flatten(1)
        low = block.amax(dim=1, keepdim=True) - 60
        floor[s : s + BLOCK] = low[:, 0]
        profile[s : s + BLOCK] = block.clamp_min(low).view(len(block), x.shape[2], -1).mean(dim=2)
    return profile, floor
