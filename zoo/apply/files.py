"""The files `zoo predict` and `zoo embed` write: per window and per file, loadable with pandas."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from zoo.io import write_atomic, write_csv


def _windows_index(results: dict) -> pd.DataFrame:
    rows = [
        {"path": str(path), "start_s": round(float(s), 4), "end_s": round(float(e), 4)}
        for path, (_, w) in results.items()
        for s, e in zip(w.start_s, w.end_s)
    ]
    return pd.DataFrame(rows, columns=["path", "start_s", "end_s"])


def _files_index(results: dict) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "path": str(path),
                "duration_s": round(clip.duration_s, 4),
                "sample_rate": clip.sample_rate,
                "windows": len(w.start_s),
                "padded": w.padded,
            }
            for path, (clip, w) in results.items()
        ],
        columns=["path", "duration_s", "sample_rate", "windows", "padded"],
    )


def _top(probs: np.ndarray, classes: list[str], k: int) -> pd.DataFrame:
    """label_1, prob_1, ..., label_k, prob_k for each row of probabilities."""
    k = max(1, min(k, len(classes)))
    order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    columns = {}
    for i in range(k):
        columns[f"label_{i + 1}"] = [classes[j] for j in order[:, i]]
        columns[f"prob_{i + 1}"] = probs[np.arange(len(probs)), order[:, i]]
    return pd.DataFrame(columns)


def write_predictions(run, results: dict, prefix: Path, top_k: int, min_confidence: float) -> list[Path]:
    """PREFIX-windows.csv (each window: path, start_s, end_s, the top-k labels and probabilities; windows
    whose top probability is below min_confidence left out) and PREFIX-files.csv (each file: duration, its
    rate, windows, padded, the top-k of its probabilities and every class's probability: the mean over its
    windows, or a multi-label run's maximum, as its evaluation scores a clip)."""
    classes = run.classes
    per_window = (
        np.concatenate([w.values for _, w in results.values()]) if results else np.zeros((0, len(classes)))
    )
    windows = pd.concat([_windows_index(results), _top(per_window, classes, top_k)], axis=1)
    windows = windows[windows["prob_1"] >= min_confidence] if len(windows) else windows
    means = np.stack([w.summary() for _, w in results.values()]) if results else np.zeros((0, len(classes)))
    files = pd.concat(
        [
            _files_index(results),
            _top(means, classes, top_k),
            pd.DataFrame(means, columns=[f"p_{c}" for c in classes]),
        ],
        axis=1,
    )
    targets = [Path(f"{prefix}-windows.csv"), Path(f"{prefix}-files.csv")]
    write_csv(targets[0], windows)
    write_csv(targets[1], files)
    return targets


def write_embeddings(results: dict, prefix: Path) -> list[Path]:
    """Per window and per file (the mean over its windows): a Parquet table (path, start_s, end_s, e0...)
    where pyarrow is installed, else a .npy matrix with a CSV index of its rows."""
    per_window = np.concatenate([w.values for _, w in results.values()]) if results else np.zeros((0, 0))
    per_file = np.stack([w.mean() for _, w in results.values()]) if results else np.zeros((0, 0))
    written = []
    for name, index, matrix in (
        ("windows", _windows_index(results), per_window),
        ("files", _files_index(results), per_file),
    ):
        try:
            import pyarrow  # noqa: F401

            table = pd.concat(
                [index, pd.DataFrame(matrix, columns=[f"e{i}" for i in range(matrix.shape[1])])], axis=1
            )
            target = Path(f"{prefix}-{name}.parquet")
            write_atomic(target, lambda f, t=table: t.to_parquet(f, index=False))
            written.append(target)
        except ImportError:
            target = Path(f"{prefix}-{name}.npy")
            write_atomic(target, lambda f, m=matrix: np.save(f, m.astype(np.float32)))
            write_csv(Path(f"{prefix}-{name}.csv"), index)
            written += [target, Path(f"{prefix}-{name}.csv")]
    return written


def write_raven(run, results: dict, folder: Path, min_confidence: float) -> tuple[list[Path], dict]:
    """One Raven Pro selection table per recording, FOLDER/<name>.Table.1.selections.txt: the windows over
    each class's threshold (a multi-label run's own, chosen on its validation split; else min_confidence,
    at least 0.5), adjacent windows of one class merged into one event scored by its highest probability.
    Returns the tables written and {recording: its events}."""
    from zoo.data.raven import write_table
    from zoo.evaluate.events import events_from_windows

    thresholds = run.thresholds if run.thresholds is not None else max(0.5, min_confidence)
    written, found = [], {}
    folder.mkdir(parents=True, exist_ok=True)
    for path, (_, w) in results.items():
        events = events_from_windows(w.start_s, w.end_s, w.values, run.classes, thresholds)
        target = folder / f"{Path(path).stem}.Table.1.selections.txt"
        write_table(target, events, high_hz=run.features.sample_rate / 2)
        written.append(target)
        found[Path(path)] = events
    return written, found
