import csv
import json

import numpy as np
import pandas as pd
import pytest

from zoo.evaluate.metrics import METRICS
from zoo.leaderboard import build_board, write_leaderboards
from zoo.outputs.board_tables import render_markdown

CLASSES = ["a", "b"]


def fake_run(
    experiments,
    model,
    run_id,
    wrong,
    finished,
    n=40,
    fold=None,
    seed=0,
    fingerprint="fp1",
    params=None,
    notes=(),
    shortcut=None,
):
    """A finished run folder whose test clips c0..c{n-1} (labels a, b alternating; clips 2i and 2i+1 from
    one recording) are all right but those in `wrong`."""
    run_dir = experiments / "birds" / model / run_id
    run_dir.mkdir(parents=True)
    offset = 1000 * (fold or {"index": 1})["index"]  # each fold its own clips
    y = np.arange(n) % 2
    pred = np.where(np.isin(np.arange(n), list(wrong)), 1 - y, y)
    probs = np.where(np.eye(2)[pred] == 1, 0.8, 0.2)
    predictions = pd.DataFrame(
        {
            "path": [f"c{offset + i}" for i in range(n)],
            "group": [f"g{(offset + i) // 2}" for i in range(n)],
            "label": [CLASSES[i] for i in y],
            "predicted": [CLASSES[i] for i in pred],
            "correct": pred == y,
            "confidence": probs.max(1),
            "p_a": probs[:, 0],
            "p_b": probs[:, 1],
        }
    )
    predictions.to_csv(run_dir / "predictions.csv", index=False)
    config = {
        "model": {"name": model, "params": params or {}},
        "notes": list(notes),
        "dataset": {"fingerprint": fingerprint, "classes": CLASSES},
        "protocol": {"lr": 0.001, "batch_size": 32, "epochs": 10, "early_stop_patience": 3, "seed": seed},
        "features": {"n_mels": 64},
        "splits": {"test": 0.2},
        "split": {"shortcut": shortcut or {}},
    }
    metrics = {m.name: float(m(y, probs)) for m in METRICS} | {
        "model": model,
        "run_id": run_id,
        "n_test": n,
        "epochs": 5,
        "best_epoch": 3,
        "train_seconds": 10.0,
        "finished_at": finished,
        "seed": seed,
        "compute": {"params": 1_500_000, "macs": 2_000_000, "latency_ms": 1.25},
    }
    if fold:
        config["fold"] = metrics["fold"] = fold
        metrics["sweep"] = {"folds": fold["of"], "seeds": 2}
    (run_dir / "config.json").write_text(json.dumps(config))
    (run_dir / "checkpoint.pt").write_bytes(b"weights")
    metrics["files"] = {p.name: p.stat().st_size for p in run_dir.iterdir()}  # as the evaluator records
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    return run_dir


def test_ranked_by_accuracy_then_macro_f1_latest_run_per_model(tmp_path):
    exp = tmp_path / "experiments"
    fake_run(exp, "cnn", "r1", range(20), "2026-01-01T00:00:00")
    fake_run(exp, "cnn", "r2", [0, 2, 4, 6], "2026-01-02T00:00:00")  # newer: replaces r1; errors in class a
    fake_run(exp, "effnet", "r3", [0, 1, 2, 3], "2026-01-03T00:00:00")  # as accurate, errors in both classes
    fake_run(exp, "mlp", "r4", [0], "2026-01-04T00:00:00")
    board = build_board(exp, "birds")
    assert [(r["model"], r["run_id"]) for r in board.rows] == [("mlp", "r4"), ("effnet", "r3"), ("cnn", "r2")]
    assert board.rows[1]["accuracy"] == board.rows[2]["accuracy"] == 0.9
    assert board.rows[1]["macro_f1"] > board.rows[2]["macro_f1"]
    assert board.unranked == 1


def test_runs_on_other_data_or_protocol_are_not_ranked_together(tmp_path):
    exp = tmp_path / "experiments"
    fake_run(exp, "cnn", "r1", [], "2026-01-01T00:00:00", fingerprint="old")
    fake_run(exp, "effnet", "r2", range(20), "2026-01-02T00:00:00")
    board = build_board(exp, "birds")
    assert [r["model"] for r in board.rows] == ["effnet"]
    assert "1 other finished run(s) are not ranked" in render_markdown(board, tmp_path / "leaderboard")


def test_folds_and_seeds_pool_into_one_row_each_test_clip_once(tmp_path):
    exp = tmp_path / "experiments"
    errors = {(1, 0): [0], (1, 1): [0, 1, 2], (2, 0): [], (2, 1): [5]}
    for (fold, seed), wrong in errors.items():
        fake_run(
            exp,
            "cnn",
            f"f{fold}s{seed}",
            wrong,
            f"2026-01-0{fold}T0{seed}:00:00",
            fold={"index": fold, "of": 2},
            seed=seed,
        )
    board = build_board(exp, "birds")
    assert len(board.rows) == 1 and board.unranked == 0
    row = board.rows[0]
    assert (row["runs_done"], row["runs_planned"], row["folds_done"], row["seeds_done"]) == (4, 4, 2, 2)
    assert row["n_test"] == 80  # 2 folds x 40 clips, seeds not counted twice
    assert row["accuracy"] == pytest.approx(np.mean([(80 - 1) / 80, (80 - 4) / 80]))  # seed 0, seed 1
    assert row["accuracy_std"] == pytest.approx(np.std([39 / 40, 37 / 40, 1, 39 / 40], ddof=1))
    low, high = row["intervals"]["accuracy"]
    assert low < row["accuracy"] <= high <= 1
    text = render_markdown(board, tmp_path / "leaderboard")
    assert "| 1 | cnn (4 runs) | 0.9688 ± 0.0315 (" in text


def test_rows_the_leader_cannot_be_told_from_share_its_rank(tmp_path):
    exp = tmp_path / "experiments"
    fake_run(exp, "best", "r1", [3], "2026-01-01T00:00:00", n=200)
    fake_run(exp, "twin", "r2", [3, 7], "2026-01-02T00:00:00", n=200)  # one clip worse: tied
    fake_run(exp, "poor", "r3", range(0, 200, 3), "2026-01-03T00:00:00", n=200)  # a third wrong
    board = build_board(exp, "birds")
    ranks = [(r["model"], r["rank"], r["tied"]) for r in board.rows]
    assert ranks == [("best", 1, False), ("twin", 1, True), ("poor", 3, False)]
    assert board.rows[1]["vs_leader"].p > 0.05 and board.rows[2]["vs_leader"].p < 0.001
    assert board.rows[2]["vs_leader"].difference == pytest.approx(-66 / 200)
    write_leaderboards(exp, tmp_path / "leaderboard")
    text = (tmp_path / "leaderboard" / "birds.md").read_text()
    assert "| 1 (tied) | twin | 0.9900 (" in text and "| -0.3300 (" in text
    index = (tmp_path / "leaderboard" / "README.md").read_text()
    assert "| [birds](birds.md) | 3 | best | 0.9950 (0.9848-1.0000) | twin | 0 |" in index
    rows = list(csv.DictReader((tmp_path / "leaderboard" / "birds.csv").open()))
    assert [r["rank"] for r in rows] == ["1", "1", "3"] and rows[1]["tied"] == "True"
    assert float(rows[2]["vs_leader_p"]) < 0.001 and float(rows[0]["accuracy_low"]) >= 0.984


def test_a_row_with_fewer_folds_is_compared_on_the_clips_both_were_tested_on(tmp_path):
    exp = tmp_path / "experiments"
    for fold in (1, 2):
        fake_run(exp, "cnn", f"c{fold}", [], f"2026-01-0{fold}T00:00:00", fold={"index": fold, "of": 2})
    fake_run(exp, "mlp", "m1", [], "2026-01-03T00:00:00", fold={"index": 1, "of": 2})
    board = build_board(exp, "birds")
    mlp = next(r for r in board.rows if r["model"] == "mlp")
    assert mlp["n_test"] == 40 and mlp["vs_leader"].difference == 0 and mlp["vs_leader"].p == 1.0
    assert "| 1 (tied) | mlp (1 run, 1/2 folds) |" in render_markdown(board, tmp_path / "leaderboard")


def test_markdown_links_reports_compute_and_the_per_class_view(tmp_path):
    exp = tmp_path / "experiments"
    fake_run(
        exp,
        "effnet",
        "r3abcdefgh",
        [0, 2],
        "2026-01-03T00:00:00",
        params={"pretrained": False},
        notes=['efficientnet_b0: pretrained = "auto" found no ImageNet weights on disk'],
    )
    fake_run(exp, "cnn", "r9", range(10), "2026-01-01T00:00:00")
    (exp / "birds" / "broken" / "half").mkdir(parents=True)  # an unfinished run folder is ignored
    write_leaderboards(exp, tmp_path / "leaderboard")
    text = (tmp_path / "leaderboard" / "birds.md").read_text()
    assert "| 1.50 | 2.0 | 1.25 | 10 | 0.001 | random (auto: no weights on disk) |" in text
    assert "[r3abcdef](../experiments/birds/effnet/r3abcdefgh/report.md) |" in text
    assert "[birds-per-class.md](birds-per-class.md)" in text
    per_class = (tmp_path / "leaderboard" / "birds-per-class.md").read_text()
    assert "| class | effnet | cnn |" in per_class and "| a | **0.947** | 0.750 |" in per_class
    assert (tmp_path / "leaderboard" / "birds-per-class.png").stat().st_size > 0


def test_a_run_without_its_predictions_is_listed_as_damaged(tmp_path):
    exp = tmp_path / "experiments"
    fake_run(exp, "cnn", "r1", [], "2026-01-01T00:00:00")
    (fake_run(exp, "mlp", "r2", [], "2026-01-02T00:00:00") / "predictions.csv").unlink()
    board = build_board(exp, "birds")
    assert [r["model"] for r in board.rows] == ["cnn"]
    assert len(board.damaged) == 1 and "predictions.csv" in board.damaged[0]


def test_folds_with_their_own_shortcut_figures_are_one_row_under_the_warning(tmp_path):
    exp = tmp_path / "experiments"
    for fold in (1, 2):
        shortcut = {"accuracy": 0.6 + fold / 10, "warning": "rate predicts the label"}
        fake_run(
            exp,
            "cnn",
            f"f{fold}",
            [],
            f"2026-01-0{fold}T00:00:00",
            fold={"index": fold, "of": 2},
            shortcut=shortcut,
        )
    board = build_board(exp, "birds")
    assert len(board.rows) == 1 and board.rows[0]["folds_done"] == 2
    assert "**Shortcut warning:** rate predicts the label." in render_markdown(
        board, tmp_path / "leaderboard"
    )


def test_a_fold_that_failed_stays_listed_beside_its_row_after_the_other_folds_finish(tmp_path):
    """Issue 18: a failed job no longer disappears once another run of its model finishes."""
    exp = tmp_path / "experiments"
    for fold in (1, 2, 3):
        fake_run(exp, "cnn", f"f{fold}", [], f"2026-01-0{fold}T00:00:00", fold={"index": fold, "of": 4})
    failed = fake_run(exp, "cnn", "f4", [], "", fold={"index": 4, "of": 4})
    (failed / "metrics.json").unlink()
    (failed / "failed.json").write_text(
        json.dumps({"model": "cnn", "run_id": "f4", "error": "worker died", "failed_at": "2026-01-00T00:00"})
    )
    board = build_board(exp, "birds")
    assert [f["run_id"] for f in board.failed] == ["f4"]
    assert board.rows[0]["runs_failed"] == 1
    text = render_markdown(board, tmp_path / "leaderboard")
    assert "| cnn (3 runs, 3/4 folds, 1 failed) |" in text and "## Failed (not ranked)" in text
    # a failed run of a configuration since replaced (other params) is history, not listed
    old = fake_run(exp, "mlp", "old", [], "", params={"width": 8})
    (old / "metrics.json").unlink()
    (old / "failed.json").write_text(json.dumps({"model": "mlp", "run_id": "old", "failed_at": "2026-01-00"}))
    fake_run(exp, "mlp", "new", [], "2026-01-05T00:00:00", params={"width": 16})
    assert [f["run_id"] for f in build_board(exp, "birds").failed] == ["f4"]


def test_where_weights_came_from_is_read_from_the_run_not_guessed(tmp_path):
    """The plan records the model's declared weights (ModelSpec.pretrained_on): an AudioSet PANNs run reads
    "AudioSet", an ImageNet timm run "ImageNet", a fallback of "auto" random init, a model without weights
    "-"; a run made before runs recorded it says "pretrained" rather than guess."""
    from zoo.outputs.cells import weights_of
    from zoo.registry import load_registry
    from zoo.runs.plan import weights_record

    registry = load_registry()
    record = weights_record(registry.model("cnn6"), {"pretrained": True}, {"pretrained": True})
    assert record == {"start": "pretrained", "pretrained_on": "AudioSet", "fell_back": False}

    def read(spec, params, requested=None):
        config = {"model": {"params": params}, "notes": []}
        config["weights"] = weights_record(registry.model(spec), requested or params, params)
        return weights_of({"config": config})

    assert read("cnn6", {"pretrained": True}) == "AudioSet"
    assert read("efficientnet_b0", {"pretrained": True}) == "ImageNet"
    assert read("mobilenet_v3", {"pretrained": False}, {"pretrained": "auto"}) == (
        "random (auto: no weights on disk)"
    )
    assert read("baseline_cnn", {}) == "-"
    assert weights_of({"config": {"model": {"params": {"pretrained": True}}, "notes": []}}) == "pretrained"
    exp = tmp_path / "experiments"
    fake_run(exp, "cnn6", "r1", [], "2024-01-01", params={"pretrained": True})
    config = json.loads((exp / "birds/cnn6/r1/config.json").read_text())
    config["weights"] = record
    (exp / "birds/cnn6/r1/config.json").write_text(json.dumps(config))
    (exp / "birds/cnn6/r1/metrics.json").unlink()  # rewritten with the new config's size
    metrics = {m.name: 1.0 for m in METRICS} | {"model": "cnn6", "run_id": "r1", "finished_at": "2024-01-01"}
    (exp / "birds/cnn6/r1/metrics.json").write_text(json.dumps(metrics))
    write_leaderboards(exp, tmp_path / "leaderboard")
    assert "| AudioSet |" in (tmp_path / "leaderboard" / "birds.md").read_text()


def test_the_tuning_curve_counts_every_trial_and_only_completed_ones_can_be_best():
    """The x axis of <dataset>-tuning.png is the budget spent: a pruned trial takes its place in the curve
    at the best so far (its partial score never counts: the study chooses among completed trials)."""
    from zoo.outputs.board_views import tuning_curve

    def trial(number, state, score):
        return {"number": number, "state": state, "score": score, "epochs": 1, "params": {}}

    trials = [
        trial(3, "pruned", 0.9),
        trial(0, "pruned", 0.2),
        trial(1, "complete", 0.4),
        trial(2, "complete", 0.3),
        trial(4, "fail", None),
        trial(5, "complete", 0.6),
    ]
    curve = tuning_curve(trials)
    assert np.isnan(curve[0]) and curve[1:] == [0.4, 0.4, 0.4, 0.4, 0.6]
