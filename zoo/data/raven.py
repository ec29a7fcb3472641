"""Raven Pro selection tables: read and write them as Raven does; label a recording's windows from its boxes.

A selection table is tab-separated text: a header row (HEADER, then annotation columns such as "Species"),
one row per selection, "\\n" line ends. Times are seconds from the start of the recording.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from zoo.errors import ZooError
from zoo.io import write_text

HEADER = (
    "Selection",
    "View",
    "Channel",
    "Begin Time (s)",
    "End Time (s)",
    "Low Freq (Hz)",
    "High Freq (Hz)",
)
LABEL_COLUMNS = ("Species", "Annotation", "Label", "Class", "species", "label")
COLUMNS = ("begin_s", "end_s", "low_hz", "high_hz", "label")
VIEW = "Spectrogram 1"
CHANNEL = 1
EPS = 1e-9  # seconds: below this, float noise from k * hop_s, not a real overlap


def _read_text(path: Path) -> str:
    """The file's text; Raven on Windows may save in a legacy code page, which latin-1 always decodes."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ZooError(f"{path}: cannot read the selection table ({exc.strerror}): check the path.") from None
    try:
        return data.decode("utf-8-sig")  # -sig: Excel-edited tables start with a byte-order mark
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _parse(path: Path) -> pd.DataFrame:
    """The raw table, every cell a string; only empty cells are missing ("NA" can be a species code)."""
    text = _read_text(path)
    try:
        frame = pd.read_csv(io.StringIO(text), sep="\t", dtype=str, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        why = str(exc).strip().splitlines()[0] if str(exc).strip() else "empty"
        raise ZooError(f"{path} is not a tab-separated selection table ({why}): re-export it.") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _one_row_per_selection(frame: pd.DataFrame) -> pd.DataFrame:
    """Keep one row per Selection number, the Spectrogram view's where Raven also wrote a Waveform row."""
    if "Selection" not in frame.columns:
        return frame
    if "View" in frame.columns:
        not_spectrogram = ~frame["View"].fillna("").str.startswith("Spectrogram")
        # stable sort: Spectrogram rows first, file order otherwise, so keep="first" prefers them
        frame = frame.assign(_rank=not_spectrogram.astype(int)).sort_values("_rank", kind="stable")
        frame = frame.drop(columns="_rank")
    return frame.drop_duplicates(subset="Selection", keep="first").sort_index()


def _label_column(path: Path, frame: pd.DataFrame, label_column: str | None) -> str:
    """The column holding the labels: the one asked for, else the first usual name present."""
    if label_column is not None:
        if label_column not in frame.columns:
            raise ZooError(
                f"{path} has no column {label_column!r} (it has {list(frame.columns)}): pick one of those."
            )
        return label_column
    for name in LABEL_COLUMNS:
        if name in frame.columns:
            return name
    raise ZooError(
        f"{path} has no label column among {list(LABEL_COLUMNS)} (it has {list(frame.columns)}): "
        "pass label_column naming the one that holds the labels."
    )


def _number(path: Path, frame: pd.DataFrame, column: str, default: float) -> pd.Series:
    """A numeric column; a missing optional column is `default`, a non-number is the user's to fix."""
    if column not in frame.columns:
        return pd.Series(default, index=frame.index, dtype=float)
    values = pd.to_numeric(frame[column].str.strip(), errors="coerce")
    bad = values.isna() & frame[column].notna()
    if bad.any():
        raise ZooError(
            f"{path}: {column!r} holds {frame[column][bad].iloc[0]!r}, not a number: fix that row."
        )
    return values.astype(float)


def read_table(path: str | Path, label_column: str | None = None) -> pd.DataFrame:
    """The boxes of a Raven selection table: begin_s, end_s, low_hz, high_hz, label (str), by begin time.

    Duplicate Waveform/Spectrogram rows of one Selection collapse to one; rows without a label are
    dropped. The label column is `label_column`, else the first of LABEL_COLUMNS present.
    """
    path = Path(path)
    frame = _parse(path)
    missing = [c for c in ("Begin Time (s)", "End Time (s)") if c not in frame.columns]
    if missing:
        raise ZooError(
            f"{path} lacks {missing} (it has {list(frame.columns)}): export a selection table from Raven."
        )
    frame = _one_row_per_selection(frame)
    label = _label_column(path, frame, label_column)
    labels = frame[label].fillna("").astype(str).str.strip()
    frame = frame[labels != ""]
    boxes = pd.DataFrame(
        {
            "begin_s": _number(path, frame, "Begin Time (s)", np.nan),
            "end_s": _number(path, frame, "End Time (s)", np.nan),
            "low_hz": _number(path, frame, "Low Freq (Hz)", np.nan),
            "high_hz": _number(path, frame, "High Freq (Hz)", np.nan),
            "label": labels[labels != ""],
        }
    )
    if boxes[["begin_s", "end_s"]].isna().any().any():
        raise ZooError(f"{path}: a labelled row has no Begin or End time: fill it in or delete the row.")
    return boxes.sort_values(["begin_s", "end_s"], kind="stable").reset_index(drop=True)


def _cell(value) -> str:
    """A label as one cell: a tab or line break inside it would split the row, so they become spaces."""
    return " ".join(str(value).split()) if any(ch in str(value) for ch in "\t\r\n") else str(value)


def write_table(
    path: str | Path, events: pd.DataFrame, label_column: str = "Species", high_hz: float = 8000.0
) -> None:
    """Write `events` (begin_s, end_s, label; optional score, low_hz, high_hz) as Raven writes a table.

    Selections are numbered from 1 in the frame's order, all in view "Spectrogram 1", channel 1; times
    have 4 decimals; a box without frequencies spans 0 to `high_hz` (pass half the sample rate). A
    "Score" column follows the label when the events have one. The file is replaced atomically.
    """
    has_score = "score" in events.columns
    columns = [*HEADER, label_column] + (["Score"] if has_score else [])
    lines = ["\t".join(columns)]
    for number, row in enumerate(events.itertuples(index=False), start=1):
        event = row._asdict()
        low = event.get("low_hz", 0.0)
        high = event.get("high_hz", high_hz)
        low = 0.0 if pd.isna(low) else float(low)  # NaN from read_table when the file had no frequencies
        high = float(high_hz) if pd.isna(high) else float(high)
        cells = [str(number), VIEW, str(CHANNEL), f"{event['begin_s']:.4f}", f"{event['end_s']:.4f}"]
        cells += [f"{low:.3f}", f"{high:.3f}", _cell(event["label"])]
        if has_score:
            cells.append(f"{float(event['score']):.4f}")
        lines.append("\t".join(cells))
    write_text(Path(path), "\n".join(lines) + "\n")


def windows(duration_s: float, window_s: float, hop_s: float) -> list[tuple[float, float]]:
    """[0, duration_s] cut into windows of window_s every hop_s, the last one ending at duration_s.

    A recording no longer than a window is one window [0, duration_s]; a non-positive one has none.
    """
    if window_s <= 0 or hop_s <= 0:
        raise ZooError(f"window_s={window_s} and hop_s={hop_s}: both must be positive seconds.")
    if duration_s <= 0:
        return []
    if duration_s <= window_s + EPS:
        return [(0.0, float(duration_s))]
    # round: k * hop_s drifts (0.1 * 3 = 0.30000000000000004), which would misplace box edges
    count = int(np.floor((duration_s - window_s) / hop_s + EPS)) + 1
    spans = [(round(k * hop_s, 9), round(k * hop_s + window_s, 9)) for k in range(count)]
    if spans[-1][1] < duration_s - EPS:  # the hops stop short: one more window flush with the end
        spans.append((round(duration_s - window_s, 9), float(duration_s)))
    return spans


def _labels_in(start: float, end: float, boxes: pd.DataFrame, min_overlap_s: float, min_share: float):
    """The sorted unique labels of the boxes that overlap [start, end] enough (see window_labels)."""
    begin = boxes["begin_s"].to_numpy(float)
    finish = boxes["end_s"].to_numpy(float)
    overlap = np.minimum(finish, end) - np.maximum(begin, start)
    length = finish - begin
    enough = (overlap >= min_overlap_s - EPS) | (overlap >= min_share * length - EPS)
    # a zero-length box (a click marked as an instant) overlaps nothing: it counts where it falls
    instant = (length <= EPS) & (begin >= start - EPS) & (begin < end - EPS)
    hit = ((overlap > EPS) & enough) | instant
    return sorted(set(boxes["label"].to_numpy()[hit].astype(str)))


def window_labels(
    duration_s: float,
    boxes: pd.DataFrame,
    window_s: float,
    hop_s: float,
    min_overlap_s: float = 0.0,
    min_share: float = 0.5,
) -> list[tuple[float, float, list[str]]]:
    """(start, end, labels) for each window of the recording (see `windows`), labelled from `boxes`.

    A box (a row of read_table's frame) labels a window when it overlaps the window at all AND either
    by at least `min_overlap_s` seconds OR by at least `min_share` of the box's own duration, so a short
    call mostly inside a window counts even when it lasts less than `min_overlap_s`. Boxes overlapping
    less are ignored; boxes that only touch a window's edge never count. With the default min_overlap_s=0
    any real overlap counts; raise it to make `min_share` matter.
    """
    spans = windows(duration_s, window_s, hop_s)
    if boxes is None or len(boxes) == 0:
        return [(start, end, []) for start, end in spans]
    return [(start, end, _labels_in(start, end, boxes, min_overlap_s, min_share)) for start, end in spans]


# how a selection table is named after its recording NAME.wav, in the order looked for
TABLE_SUFFIXES = (".Table.1.selections.txt", ".selections.txt", ".txt")


def table_of(recording: Path) -> Path | None:
    """The selection table of a recording beside it: NAME.Table.1.selections.txt (as Raven names it),
    NAME.selections.txt or NAME.txt."""
    found = (recording.parent / f"{recording.stem}{suffix}" for suffix in TABLE_SUFFIXES)
    return next((table for table in found if table.is_file()), None)


def recording_of(table: Path) -> str:
    """The NAME of the recording a table is named after (table_of's naming, read backwards)."""
    suffix = next(s for s in TABLE_SUFFIXES if table.name.endswith(s) and len(table.name) > len(s))
    return table.name[: -len(suffix)]


def clip_table(
    root: str | Path,
    window_s: float,
    hop_s: float,
    min_overlap_s: float = 0.0,
    min_share: float = 0.5,
    label_column: str | None = None,
) -> pd.DataFrame:
    """The clip table of annotated recordings under `root`: each recording with a selection table beside it
    (table_of) cut into windows (window_labels), a window a clip "REC#t=START,END" (zoo.data.audio reads the
    part) with the labels of the boxes it holds; the recording is the group, so that its windows never
    straddle splits. Recordings without a table are left out."""
    import soundfile as sf

    from zoo.data.clips import AUDIO_SUFFIXES

    root = Path(root)
    rows = []
    for recording in sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES):
        table = table_of(recording)
        if table is None:
            continue
        try:
            duration = sf.info(str(recording)).duration
        except Exception as exc:
            raise ZooError(f"{recording}: cannot read its length ({exc}); fix or remove it.") from None
        for start, end, labels in window_labels(
            duration, read_table(table, label_column), window_s, hop_s, min_overlap_s, min_share
        ):
            rows.append({"path": f"{recording}#t={start:.3f},{end:.3f}", "labels": ";".join(labels)})
            rows[-1]["group"] = str(recording)
    if not rows:
        raise ZooError(
            f"No recording under {root} has a selection table beside it: NAME.Table.1.selections.txt "
            "or NAME.txt for NAME.wav."
        )
    return pd.DataFrame(rows)
