"""Raven selection tables and sound-event scoring: the file format, window labels, events, their scores."""

import numpy as np
import pandas as pd
import pytest

from zoo.data.raven import HEADER, read_table, window_labels, write_table
from zoo.errors import ZooError
from zoo.evaluate.events import event_scores, events_from_windows


def boxes(*rows):
    """A read_table-like frame from (begin, end, label) rows."""
    frame = pd.DataFrame(rows, columns=["begin_s", "end_s", "label"])
    return frame.assign(low_hz=np.nan, high_hz=np.nan)


def events(*rows):
    """An event frame from (begin, end, label) rows."""
    return pd.DataFrame(rows, columns=["begin_s", "end_s", "label"])


def test_written_table_has_ravens_header_and_round_trips(tmp_path):
    path = tmp_path / "rec.Table.1.selections.txt"
    written = pd.DataFrame(
        {"begin_s": [0.5, 2.0], "end_s": [1.25, 3.5], "label": ["wren", "NA"], "score": [0.9, 0.7]}
    )
    write_table(path, written, high_hz=11025)
    text = path.read_bytes().decode()
    lines = text.split("\n")
    assert lines[0] == "\t".join([*HEADER, "Species", "Score"])
    assert lines[1] == "1\tSpectrogram 1\t1\t0.5000\t1.2500\t0.000\t11025.000\twren\t0.9000"
    assert "\r" not in text and text.endswith("\n") and len(lines) == 4
    back = read_table(path)
    assert list(back.columns) == ["begin_s", "end_s", "low_hz", "high_hz", "label"]
    assert back["label"].tolist() == ["wren", "NA"]  # "NA" is a species code, not a missing value
    assert np.allclose(back["begin_s"], [0.5, 2.0]) and np.allclose(back["end_s"], [1.25, 3.5])
    assert np.allclose(back["high_hz"], 11025)


def test_header_without_score_and_a_chosen_label_column(tmp_path):
    path = tmp_path / "t.txt"
    write_table(path, events((1.0, 2.0, "a")), label_column="Annotation")
    assert path.read_text().split("\n")[0] == "\t".join([*HEADER, "Annotation"])
    assert read_table(path)["label"].tolist() == ["a"]


def write_raw(path, header, rows):
    """A hand-made tab-separated table, as Raven or a person might leave it."""
    path.write_text("\n".join("\t".join(map(str, r)) for r in [header, *rows]) + "\n")
    return path


def test_waveform_and_spectrogram_rows_collapse_to_one(tmp_path):
    header = [*HEADER, "Species"]
    rows = [
        [1, "Waveform 1", 1, 1.0, 2.0, 0, 0, "owl"],
        [1, "Spectrogram 1", 1, 1.0, 2.0, 300, 900, "owl"],
        [2, "Spectrogram 1", 1, 3.0, 4.0, 500, 700, "jay"],
        [2, "Waveform 1", 1, 3.0, 4.0, 0, 0, "jay"],
        [3, "Spectrogram 1", 1, 5.0, 6.0, 0, 0, ""],  # unlabelled: dropped
    ]
    table = read_table(write_raw(tmp_path / "t.txt", header, rows))
    assert table["label"].tolist() == ["owl", "jay"]
    assert table["low_hz"].tolist() == [300.0, 500.0]  # the Spectrogram view's box


def test_label_column_fallbacks_and_errors(tmp_path):
    table = write_raw(tmp_path / "a.txt", ["Begin Time (s)", "End Time (s)", "label"], [[0, 1, "x"]])
    assert read_table(table)["label"].tolist() == ["x"]
    none = write_raw(tmp_path / "b.txt", ["Begin Time (s)", "End Time (s)", "Notes"], [[0, 1, "x"]])
    with pytest.raises(ZooError, match="b.txt.*Notes"):
        read_table(none)
    assert read_table(none, label_column="Notes")["label"].tolist() == ["x"]
    no_times = write_raw(tmp_path / "c.txt", ["Selection", "Species"], [[1, "x"]])
    with pytest.raises(ZooError, match="c.txt"):
        read_table(no_times)
    with pytest.raises(ZooError, match="missing.txt"):
        read_table(tmp_path / "missing.txt")
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(ZooError, match="empty.txt"):
        read_table(tmp_path / "empty.txt")


def test_window_labels_by_seconds_and_by_share():
    calls = boxes((0.8, 1.6, "long"), (2.9, 3.05, "short"))
    got = window_labels(4.0, calls, window_s=1.0, hop_s=1.0, min_overlap_s=0.3, min_share=0.5)
    # "long" overlaps [0,1] by 0.2 s (too little, 25% of it), [1,2] by 0.6 s; "short" is 2/3 in [2,3]
    # (0.1 s, under 0.3 s, but over half of it) and 1/3 in [3,4] (neither)
    assert got == [(0.0, 1.0, []), (1.0, 2.0, ["long"]), (2.0, 3.0, ["short"]), (3.0, 4.0, [])]


def test_window_labels_boundaries_and_defaults():
    calls = boxes((1.0, 2.0, "b"), (1.5, 1.7, "a"), (1.2, 1.4, "a"))
    got = window_labels(3.0, calls, window_s=1.0, hop_s=0.5)
    # a box touching a window's edge is not in it; labels are sorted and unique
    assert got == [
        (0.0, 1.0, []),
        (0.5, 1.5, ["a", "b"]),
        (1.0, 2.0, ["a", "b"]),
        (1.5, 2.5, ["a", "b"]),
        (2.0, 3.0, []),
    ]


def test_window_labels_last_window_flush_with_the_end_and_short_recordings():
    spans = [(s, e) for s, e, _ in window_labels(2.5, boxes(), window_s=1.0, hop_s=1.0)]
    assert spans == [(0.0, 1.0), (1.0, 2.0), (1.5, 2.5)]
    assert window_labels(0.6, boxes((0.1, 0.2, "x")), window_s=1.0, hop_s=0.5) == [(0.0, 0.6, ["x"])]
    assert len(window_labels(1.0, boxes(), window_s=0.1, hop_s=0.1)) == 10  # no float-drift extra window


def test_events_merge_adjacent_windows_and_split_at_gaps():
    starts, ends = [0.0, 1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0, 5.0]
    probs = np.array([[0.9, 0.1], [0.6, 0.1], [0.2, 0.1], [0.7, 0.8], [0.1, 0.4]])
    got = events_from_windows(starts, ends, probs, ["a", "b"], [0.5, 0.3])
    assert got.to_dict("records") == [
        {"begin_s": 0.0, "end_s": 2.0, "label": "a", "score": 0.9},
        {"begin_s": 3.0, "end_s": 4.0, "label": "a", "score": 0.7},
        {"begin_s": 3.0, "end_s": 5.0, "label": "b", "score": 0.8},
    ]
    overlapping = events_from_windows([0.0, 0.5, 1.0], [1.0, 1.5, 2.0], [[0.9], [0.9], [0.9]], ["a"], 0.5)
    assert overlapping[["begin_s", "end_s"]].values.tolist() == [[0.0, 2.0]]
    nothing = events_from_windows(starts, ends, probs, ["a", "b"], 0.95)
    assert len(nothing) == 0 and list(nothing.columns) == ["begin_s", "end_s", "label", "score"]


def test_event_scores_perfect_shifted_and_wrong_label():
    truth = events((1.0, 2.0, "a"), (3.0, 4.0, "b"))
    perfect = event_scores(truth, truth)
    assert (perfect["precision"], perfect["recall"], perfect["f1"]) == (1.0, 1.0, 1.0)
    assert perfect["per_class"]["b"]["tp"] == 1
    within = event_scores(events((1.15, 2.1, "a"), (3.0, 4.0, "b")), truth)
    assert within["tp"] == 2
    shifted = event_scores(events((1.3, 2.0, "a"), (3.0, 4.0, "b")), truth)
    assert (shifted["tp"], shifted["fp"], shifted["fn"]) == (1, 1, 1)
    assert shifted["per_class"]["a"]["f1"] == 0.0 and shifted["f1"] == 0.5
    long_truth = events((0.0, 4.0, "a"))  # offset tolerance grows to half its duration: 2 s
    assert event_scores(events((0.1, 5.5, "a")), long_truth)["tp"] == 1
    wrong = event_scores(events((1.0, 2.0, "c")), events((1.0, 2.0, "a")))
    assert (wrong["tp"], wrong["fp"], wrong["fn"], wrong["f1"]) == (0, 1, 1, 0.0)
    assert set(wrong["per_class"]) == {"a", "c"}
    twice = event_scores(events((1.0, 2.0, "a"), (1.05, 2.0, "a")), events((1.0, 2.0, "a")))
    assert (twice["tp"], twice["fp"]) == (1, 1)  # one true event matches one prediction


def test_event_scores_empty_cases():
    truth = events((1.0, 2.0, "a"))
    none_predicted = event_scores(events(), truth)
    assert none_predicted["precision"] == 0.0 and none_predicted["recall"] == 0.0
    assert none_predicted["f1"] == 0.0 and none_predicted["fn"] == 1
    none_true = event_scores(truth, events())
    assert (none_true["precision"], none_true["recall"], none_true["f1"], none_true["fp"]) == (0, 0, 0, 1)
    both = event_scores(events(), pd.DataFrame())
    assert (both["precision"], both["recall"], both["f1"], both["per_class"]) == (1.0, 1.0, 0.0, {})


def test_boxes_to_windows_to_events_to_table_and_back_score_perfectly(tmp_path):
    truth = boxes((1.0, 3.0, "a"), (2.0, 4.0, "b"), (6.0, 7.0, "a"), (9.0, 10.0, "b"))
    windows = window_labels(10.0, truth, window_s=1.0, hop_s=1.0)
    classes = ["a", "b"]
    probs = np.array([[0.9 if c in labels else 0.1 for c in classes] for _, _, labels in windows])
    starts, ends = [w[0] for w in windows], [w[1] for w in windows]
    predicted = events_from_windows(starts, ends, probs, classes, [0.5, 0.5])
    write_table(tmp_path / "pred.txt", predicted)
    back = read_table(tmp_path / "pred.txt")
    scores = event_scores(back, truth, onset_tolerance=0.0, offset_tolerance=0.0, offset_share=0.0)
    assert (scores["f1"], scores["tp"], scores["fp"], scores["fn"]) == (1.0, 4, 0, 0)
