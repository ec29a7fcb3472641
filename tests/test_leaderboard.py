import json

from zoo.leaderboard import build_board, render_markdown, write_leaderboards


def fake_run(
    experiments, model, run_id, acc, f1, finished, fingerprint="fp1", protocol=None, params=None, notes=()
):
    run_dir = experiments / "birds" / model / run_id
    run_dir.mkdir(parents=True)
    config = {
        "model": {"name": model, "params": params or {}},
        "notes": list(notes),
        "dataset": {"fingerprint": fingerprint, "classes": ["a", "b"]},
        "protocol": protocol
        or {"lr": 0.001, "batch_size": 32, "epochs": 10, "early_stop_patience": 3, "seed": 0},
        "features": {"n_mels": 64},
        "splits": {"test": 0.2},
    }
    metrics = {
        "model": model,
        "run_id": run_id,
        "accuracy": acc,
        "macro_precision": f1,
        "macro_recall": f1,
        "macro_f1": f1,
        "n_test": 20,
        "epochs": 5,
        "best_epoch": 3,
        "finished_at": finished,
    }
    (run_dir / "config.json").write_text(json.dumps(config))
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    return run_dir


def test_ranked_by_accuracy_then_macro_f1_latest_run_per_model(tmp_path):
    exp = tmp_path / "experiments"
    fake_run(exp, "cnn", "r1", 0.80, 0.70, "2026-01-01T00:00:00")
    fake_run(exp, "cnn", "r2", 0.90, 0.88, "2026-01-02T00:00:00")  # newer run of cnn replaces r1
    fake_run(exp, "effnet", "r3", 0.90, 0.89, "2026-01-03T00:00:00")
    fake_run(exp, "mlp", "r4", 0.95, 0.60, "2026-01-04T00:00:00")
    board = build_board(exp, "birds")
    assert [(r["model"], r["run_id"]) for r in board.rows] == [("mlp", "r4"), ("effnet", "r3"), ("cnn", "r2")]
    assert board.unranked == 1


def test_runs_on_other_data_or_protocol_are_not_ranked_together(tmp_path):
    exp = tmp_path / "experiments"
    fake_run(exp, "cnn", "r1", 0.99, 0.99, "2026-01-01T00:00:00", fingerprint="old")
    fake_run(exp, "effnet", "r2", 0.50, 0.50, "2026-01-02T00:00:00")
    board = build_board(exp, "birds")
    assert [r["model"] for r in board.rows] == ["effnet"]
    assert "1 other finished run(s) are not ranked" in render_markdown(board, tmp_path / "leaderboard")


def test_markdown_links_each_row_to_its_run_folder_and_report(tmp_path):
    exp = tmp_path / "experiments"
    fake_run(
        exp,
        "effnet",
        "r3",
        0.9,
        0.89,
        "2026-01-03T00:00:00",
        params={"pretrained": False},
        notes=['efficientnet_b0: pretrained = "auto" found no ImageNet weights on disk'],
    )
    fake_run(tmp_path / "experiments", "cnn", "r9", 0.5, 0.5, "2026-01-01T00:00:00")
    (exp / "birds" / "broken" / "half").mkdir(parents=True)  # an unfinished run folder is ignored
    write_leaderboards(exp, tmp_path / "leaderboard")
    text = (tmp_path / "leaderboard" / "birds.md").read_text()
    assert (
        "| 1 | effnet | 0.9000 | 0.8900 | 0.8900 | 0.8900 | 5 (3) | random (auto: no weights on disk) |"
        in text
    )
    assert (
        "[r3](../experiments/birds/effnet/r3/) | [report](../experiments/birds/effnet/r3/report.csv) |"
        in text
    )
    assert "| 2 | cnn |" in text
    assert "[birds](birds.md)" in (tmp_path / "leaderboard" / "README.md").read_text()
    assert (
        (tmp_path / "leaderboard" / "birds.csv").read_text().splitlines()[1].startswith("1,effnet,0.900000")
    )


def test_cross_validated_runs_show_mean_and_std_over_folds(tmp_path):
    exp = tmp_path / "experiments"
    for fold, acc in ((1, 0.8), (2, 0.9), (3, 1.0)):
        run_dir = fake_run(exp, "cnn", f"f{fold}", acc, acc, f"2026-01-0{fold}T00:00:00")
        config = json.loads((run_dir / "config.json").read_text())
        metrics = json.loads((run_dir / "metrics.json").read_text())
        config["fold"] = metrics["fold"] = {"index": fold, "of": 3}
        (run_dir / "config.json").write_text(json.dumps(config))
        (run_dir / "metrics.json").write_text(json.dumps(metrics))
    board = build_board(exp, "birds")
    assert len(board.rows) == 1 and board.unranked == 0
    row = board.rows[0]
    assert row["accuracy"] == 0.9 and abs(row["accuracy_std"] - 0.1) < 1e-9 and row["n_test"] == 60
    assert "| 1 | cnn (3/3 folds) | 0.9000 ± 0.1000 |" in render_markdown(board, tmp_path / "leaderboard")


def test_folds_with_their_own_shortcut_figures_are_one_row_under_the_warning(tmp_path):
    exp = tmp_path / "experiments"
    for fold, acc in ((1, 0.8), (2, 0.9)):
        run_dir = fake_run(exp, "cnn", f"f{fold}", acc, acc, f"2026-01-0{fold}T00:00:00")
        config = json.loads((run_dir / "config.json").read_text())
        metrics = json.loads((run_dir / "metrics.json").read_text())
        config["fold"] = metrics["fold"] = {"index": fold, "of": 2}
        config["split"] = {"shortcut": {"accuracy": 0.6 + fold / 10, "warning": "rate predicts the label"}}
        (run_dir / "config.json").write_text(json.dumps(config))
        (run_dir / "metrics.json").write_text(json.dumps(metrics))
    board = build_board(exp, "birds")
    assert len(board.rows) == 1 and board.rows[0]["folds_done"] == 2
    assert "**Shortcut warning:** rate predicts the label." in render_markdown(
        board, tmp_path / "leaderboard"
    )
