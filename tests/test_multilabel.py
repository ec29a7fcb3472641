"""Several labels per clip (issue 21): the clip table, the metrics with intervals, thresholds chosen on the
validation split only, and a run end to end through the CLI on generated mixtures of tones."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from zoo.data.clips import check_clip_table, class_names, read_annotations, targets
from zoo.errors import ZooError
from zoo.evaluate.multilabel import choose_thresholds, evaluate_multilabel

TONES = {"low": 440.0, "mid": 1250.0, "high": 3100.0}


def write_mixtures(root, n=96, seed=0, rate=16000, seconds=0.6):
    """Clips holding any subset of three tones (none too), with noise; every clip its own recording; the
    last quarter test, the quarter before it validation."""
    rng = np.random.default_rng(seed)
    (root / "audio").mkdir(parents=True)
    t = np.arange(int(rate * seconds)) / rate
    rows = []
    for i in range(n):
        present = [name for name in TONES if rng.random() < 0.45]
        wave = 0.02 * rng.standard_normal(len(t))
        for name in present:
            start = rng.uniform(0, seconds / 3)
            wave += 0.3 * np.sin(2 * np.pi * TONES[name] * t) * (t >= start)
        sf.write(root / "audio" / f"{i}.wav", (wave / np.abs(wave).max() * 0.8).astype(np.float32), rate)
        split = "test" if i >= 3 * n // 4 else "val" if i >= n // 2 else "train"
        rows.append({"path": f"audio/{i}.wav", "labels": ";".join(present), "group": f"r{i}", "split": split})
    pd.DataFrame(rows).to_csv(root / "annotations.csv", index=False)
    return root / "annotations.csv"


def test_a_labels_column_makes_a_multilabel_clip_table(tmp_path):
    csv = tmp_path / "a.csv"
    csv.write_text("path,labels,group\nx.wav,b; a,g1\ny.wav,,g2\nz.wav,c,g3\n")
    table = check_clip_table(read_annotations(csv), "a.csv")
    assert table["labels"].tolist() == ["a;b", "", "c"] and table["label"].tolist() == ["a", "(none)", "c"]
    assert class_names(table) == ["a", "b", "c"]
    assert targets(table, ["a", "b", "c"]).tolist() == [[1, 1, 0], [0, 0, 0], [0, 0, 1]]
    hot = tmp_path / "hot.csv"
    hot.write_text("path,owl,wren\nx.wav,1,0\ny.wav,1,1\n")
    assert read_annotations(hot, classes=["owl", "wren"])["labels"].tolist() == ["owl", "owl;wren"]
    with pytest.raises(ZooError, match="no 'crow' column"):
        read_annotations(hot, classes=["owl", "crow"])
    one = tmp_path / "one.csv"
    one.write_text("path,labels\nx.wav,a\ny.wav,a\n")
    with pytest.raises(ZooError, match="fewer than two classes"):
        check_clip_table(read_annotations(one), "one.csv")


def test_a_perfect_multilabel_predictor_scores_one_with_the_interval_one_one():
    rng = np.random.default_rng(0)
    y = (rng.random((80, 4)) < 0.4).astype(float)
    groups = [f"rec{i // 2}" for i in range(80)]  # two clips per recording
    ev = evaluate_multilabel(
        y.copy(), y, list("abcd"), [f"{i}.wav" for i in range(80)], groups, np.full(4, 0.5)
    )
    for name in ("map", "micro_ap", "macro_auroc", "macro_f1"):
        assert ev.metrics[name] == 1.0 and ev.metrics["intervals"][name] == [1.0, 1.0], name
    assert ev.metrics["brier"] == 0.0 and ev.predictions["correct"].all()
    assert list(ev.report.columns) == ["class", "ap", "precision", "recall", "f1", "threshold", "support"]


def test_thresholds_are_each_classes_best_f1_on_what_they_are_given():
    y = np.array([[1, 0], [1, 0], [0, 1], [0, 0]], dtype=float)
    probs = np.array([[0.9, 0.2], [0.35, 0.1], [0.3, 0.8], [0.1, 0.7]])
    assert choose_thresholds(y, probs).tolist() == [0.35, 0.75]  # the lowest of equally good ones
    assert choose_thresholds(np.zeros((3, 1)), np.ones((3, 1))).tolist() == [0.5]  # no positives: 0.5


@pytest.mark.slow
def test_a_multilabel_run_end_to_end_ranks_by_map_and_never_chooses_thresholds_on_test(tmp_path, monkeypatch):
    """Trained on tone mixtures through the CLI: BCE, mAP-ranked leaderboard, thresholds in metrics.json;
    the same run with the test clips' labels shuffled chooses the same thresholds and trains the same."""
    from zoo.cli import main

    csv = write_mixtures(tmp_path / "data")
    (tmp_path / "registry.toml").write_text(
        '[dataset]\nname = "csv"\n[features]\nsample_rate = 16000\nn_mels = 32\nframes = 32\n'
        "hop_length = 256\n[protocol]\nepochs = 4\nbatch_size = 16\nmin_epochs = 4\n[models.baseline_cnn]\n"
    )
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--all", "--data-root", str(csv), "--dataset-id", "tones"]) == 0
    shuffled = pd.read_csv(csv, keep_default_na=False)
    test = shuffled["split"] == "test"
    shuffled.loc[test, "labels"] = shuffled.loc[test, "labels"].sample(frac=1, random_state=1).to_numpy()
    assert not shuffled["labels"].equals(pd.read_csv(csv, keep_default_na=False)["labels"])
    shuffled.to_csv(csv.with_name("shuffled.csv"), index=False)
    assert (
        main(["run", "--all", "--data-root", str(csv.with_name("shuffled.csv")), "--dataset-id", "tones2"])
        == 0
    )
    runs = [next((tmp_path / "experiments" / d / "baseline_cnn").iterdir()) for d in ("tones", "tones2")]
    metrics = [json.loads((r / "metrics.json").read_text()) for r in runs]
    assert metrics[0]["task"] == "multilabel" and set(metrics[0]["thresholds"]) == set(TONES)
    assert metrics[0]["thresholds"] == metrics[1]["thresholds"]
    history = [pd.read_csv(r / "history.csv").drop(columns=["seconds", "train_samples_per_s"]) for r in runs]
    pd.testing.assert_frame_equal(history[0], history[1])
    assert "val_map" in history[0].columns and "val_accuracy" not in history[0].columns
    config = json.loads((runs[0] / "config.json").read_text())
    assert config["task"] == "multilabel"
    predictions = pd.read_csv(runs[0] / "predictions.csv", keep_default_na=False)
    assert {"labels", "predicted", "p_low", "p_mid", "p_high"} <= set(predictions.columns)
    assert "| class | AP |" in (runs[0] / "report.md").read_text() and (runs[0] / "pr.png").stat().st_size
    assert not (runs[0] / "confusion.png").exists() and not (runs[0] / "reliability.png").exists()
    board = (tmp_path / "leaderboard" / "tones.md").read_text()
    assert "| rank | model | mAP (95 % CI) | macro F1 (95 % CI) |" in board
    assert 0 <= metrics[0]["map"] <= 1 and metrics[0]["intervals"]["map"][0] <= metrics[0]["map"]

    # detections: one Raven table per recording, scored against a true one named after it
    from zoo.data.raven import HEADER, read_table

    truth = tmp_path / "truth"
    truth.mkdir()
    (truth / "0.Table.1.selections.txt").write_text(
        "\t".join(HEADER) + "\tSpecies\n1\tSpectrogram 1\t1\t0.0000\t0.6000\t0\t8000\tlow\n"
    )
    clip = tmp_path / "data" / "audio" / "0.wav"
    code = main(
        ["predict", str(runs[0]), str(clip), "--format", "raven", "--truth", str(truth), "--out", "det"]
    )
    assert code == 0
    table = tmp_path / "det-raven" / "0.Table.1.selections.txt"
    assert table.read_text().splitlines()[0] == "\t".join(HEADER) + "\tSpecies\tScore"
    assert set(read_table(table)["label"]) <= set(TONES)
    import zoo

    windows = zoo.load_run(runs[0]).predict(sf.read(clip)[0], 16000)  # a file's summary is as evaluated: max
    assert np.allclose(windows.summary(), windows.values.max(0)) and windows.pool == "max"
    scores = json.loads((tmp_path / "det-events.json").read_text())
    assert scores["recordings"] == 1 and 0 <= scores["f1"] <= 1


def test_recordings_with_raven_tables_are_windows_labelled_by_their_boxes(tmp_path, monkeypatch, zoo_cli):
    """The `raven` data set: each recording beside its selection table, cut into windows ("REC#t=A,B",
    read as parts of the recording) labelled by the boxes they hold, grouped by recording."""
    from zoo.data.audio import read_clip
    from zoo.data.raven import HEADER, clip_table

    rate = 8000
    for r in range(4):
        t = np.arange(rate * 8) / rate
        wave = 0.01 * np.random.default_rng(r).standard_normal(len(t))
        wave[rate * 1 : rate * 3] += 0.5 * np.sin(2 * np.pi * 700 * t[rate * 1 : rate * 3])  # "low" 1-3 s
        wave[rate * 5 : rate * 6] += 0.5 * np.sin(2 * np.pi * 2500 * t[rate * 5 : rate * 6])  # "high" 5-6 s
        sf.write(tmp_path / f"rec{r}.wav", wave.astype(np.float32), rate)
        lines = ["\t".join(HEADER) + "\tSpecies", "1\tSpectrogram 1\t1\t1.0\t3.0\t0\t4000\tlow"]
        lines.append("2\tSpectrogram 1\t1\t5.0\t6.0\t0\t4000\thigh")
        (tmp_path / f"rec{r}.Table.1.selections.txt").write_text("\n".join(lines) + "\n")
    table = clip_table(tmp_path, window_s=2.0, hop_s=2.0, min_overlap_s=0.5)
    first = table[table["group"] == str(tmp_path / "rec0.wav")]
    assert first["labels"].tolist() == ["low", "low", "high", ""]  # 0-2, 2-4, 4-6, 6-8 s
    part = read_clip(first["path"].iloc[1])
    assert part.duration_s == 2.0 and part.md5 != read_clip(first["path"].iloc[2]).md5
    assert np.allclose(part.wave[:rate], read_clip(tmp_path / "rec0.wav").wave[2 * rate : 3 * rate])
    monkeypatch.chdir(tmp_path)
    (tmp_path / "registry.toml").write_text('[dataset]\nname = "raven"\nroot = "."\n')
    code, out, err = zoo_cli(
        "prepare", "--set", "dataset.options.window=2.0", "--set", "dataset.options.hop=2.0"
    )
    assert code == 0, err
    assert "16 clips" in out or "16/16" in out


def test_the_embedded_demo_has_a_multilabel_variant(tmp_path):
    """synthetic with mix = 3: each clip its recording's call plus up to two of other kinds; mix = 1 (the
    default) is the single-label set as before."""
    from zoo_plugins.synthetic import KINDS, generate

    mixed = check_clip_table(
        generate(tmp_path / "m", recordings=2, clips_per_recording=3, mix=3), "synthetic"
    )
    assert "labels" in mixed and mixed["labels"].str.contains(";").any()
    assert all(kind in labels.split(";") for kind, labels in zip(mixed["label"], mixed["labels"]))
    assert set(class_names(mixed)) == set(KINDS)
    single = generate(tmp_path / "s", recordings=2, clips_per_recording=3)
    assert "labels" not in single and list(single.columns) == ["path", "label", "group"]
