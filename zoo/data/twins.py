"""Find clips that hold the same audio as another file (another bit depth, container or level of
compression), which their md5 does not show: the cache records each one's twin."""

from __future__ import annotations

import pandas as pd
import torch


def same_audio(
    clips: pd.DataFrame, x: torch.Tensor, owners: torch.Tensor, tolerance_db: float = 1.0
) -> list[str]:
    """For each clip, the path of an earlier clip with the same audio in another file (another bit depth,
    container or level of compression), or "": same duration, and first windows within `tolerance_db` of each
    other wherever either is within 60 dB of its peak. Byte-identical files are left to their md5."""
    none = len(owners)
    first = torch.full((len(clips),), none, dtype=torch.long)  # the first window of each clip
    first = first.scatter_reduce(0, owners, torch.arange(len(owners)), reduce="amin")
    first[first == none] = -1
    twin = [""] * len(clips)
    usable = clips[(clips["reason"] == "") & (first[torch.tensor(clips.index.to_numpy())] >= 0).numpy()]
    for _, same in usable.groupby(usable["duration_s"].round(3)):
        if len(same) < 2:
            continue
        rows = same.index.to_numpy()
        windows = x[first[torch.tensor(rows)]].flatten(1)
        floor = windows.max(dim=1, keepdim=True).values - 60
        profile = windows.clamp_min(floor).view(len(rows), x.shape[2], -1).mean(dim=2)  # per mel bin
        close = torch.cdist(profile, profile, p=float("inf")) < tolerance_db
        for i, j in zip(*torch.nonzero(torch.tril(close, diagonal=-1), as_tuple=True)):
            a, b = rows[int(i)], rows[int(j)]
            if twin[a] or clips.at[a, "md5"] == clips.at[b, "md5"]:
                continue
            loud = torch.maximum(windows[i], windows[j]) > torch.minimum(floor[i], floor[j])
            if ((windows[i] - windows[j]).abs()[loud].max() < tolerance_db).item():
                twin[a] = clips.at[b, "path"]
    return twin
