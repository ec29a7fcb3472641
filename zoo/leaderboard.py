"""Build the ranked leaderboard of a data set from its run folders alone."""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from zoo.io import locked, sweep_temporaries, write_text

COLUMNS = ("accuracy", "macro_precision", "macro_recall", "macro_f1")
PER_FOLD = ("fold", "split", "run_id", "environment")  # config.json keys that differ by fold


@dataclass
class Board:
    dataset: str
    rows: list[dict]  # ranked, one per model: the latest finished run on the current data and protocol
    unranked: int  # finished runs left out: older runs of a model, or other data/protocol
    # runs that failed (model, run_id, error, run_dir): never ranked
    failed: list[dict] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)  # run files that could not be read, with why


def read_runs(experiments: Path, dataset: str) -> tuple[list[dict], list[dict], list[str]]:
    """Every run folder of `dataset`: (finished runs, failed runs, damaged files). A finished run is its
    metrics.json and config.json merged into one record; one with non-finite metrics counts as failed.
    Hidden folders (a retrain in progress) are not runs yet."""
    finished, failed, damaged = [], [], []
    for run_dir in sorted((Path(experiments) / dataset).glob("*/*/")):
        if run_dir.name.startswith(".") or not (run_dir / "config.json").is_file():
            continue
        outcome = next(
            (run_dir / n for n in ("metrics.json", "failed.json") if (run_dir / n).is_file()), None
        )
        if outcome is None:
            continue  # being trained, or interrupted: it resumes
        try:
            config = json.loads((run_dir / "config.json").read_text())
            record = {**json.loads(outcome.read_text()), "config": config, "run_dir": run_dir}
            if outcome.name == "metrics.json":
                if all(math.isfinite(record[c]) for c in COLUMNS):
                    finished.append(record)
                    continue
                record["error"] = "its metrics are not finite"
            failed.append(record)
        except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
            damaged.append(f"{run_dir}: {type(exc).__name__} ({' '.join(str(exc).split())[:80]})")
    return finished, failed, damaged


def _key(config: dict, drop: tuple[str, ...]) -> str:
    kept = {k: v for k, v in config.items() if k not in drop}
    return hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()[:12]


def build_board(experiments: Path, dataset: str) -> Board:
    """Rank by accuracy, then macro-F1: per model, the latest configuration on the newest data and protocol
    (its k folds aggregated as mean +- std when cross-validated). Failed runs on that data and protocol are
    listed apart, unless their model finished a run since."""
    runs, failed, damaged = read_runs(experiments, dataset)
    if not runs and not failed:
        return Board(dataset, [], 0, [], damaged)
    newest_run = max(runs + failed, key=lambda r: r.get("finished_at") or r.get("failed_at", ""))
    current = _fairness_key(newest_run)
    families: dict[str, dict[int, dict]] = {}  # configuration (less fold) -> fold index -> latest run
    newest: dict[str, tuple[str, str]] = {}  # model -> (finished_at, configuration)
    for run in sorted(runs, key=lambda r: r.get("finished_at", "")):
        if _fairness_key(run) != current:
            continue
        # the folds of one configuration: its config less what differs from fold to fold
        family = _key(run["config"], PER_FOLD)
        families.setdefault(family, {})[(run.get("fold") or {}).get("index", 1)] = run
        newest[run["model"]] = (run.get("finished_at", ""), family)
    rows = [_aggregate(list(families[family].values())) for _, family in newest.values()]
    rows.sort(key=lambda r: (-r["accuracy"], -r["macro_f1"], r["model"]))
    failed = [
        f
        for f in failed
        if _fairness_key(f) == current and f.get("failed_at", "") > newest.get(f["model"], ("", ""))[0]
    ]
    return Board(dataset, rows, len(runs) - sum(r["folds_done"] for r in rows), failed, damaged)


def _fairness_key(run: dict) -> str:
    """Runs are comparable when they share the test data and the protocol."""
    c = run["config"]
    return _key(
        {
            "data": c["dataset"]["fingerprint"],
            "protocol": c["protocol"],
            "features": c["features"],
            "splits": c["splits"],
        },
        (),
    )


def _aggregate(runs: list[dict]) -> dict:
    """One leaderboard row from the runs of one configuration: a single run, or its k folds (mean, std)."""
    latest = max(runs, key=lambda r: r.get("finished_at", ""))
    row = {**latest, "folds_done": len(runs), "folds": (latest.get("fold") or {}).get("of", 1)}
    if row["folds"] > 1:
        for column in COLUMNS:
            values = [r[column] for r in runs]
            mean = sum(values) / len(values)
            row[column] = mean
            row[column + "_std"] = (sum((v - mean) ** 2 for v in values) / max(1, len(values) - 1)) ** 0.5
        row["n_test"] = sum(r["n_test"] for r in runs)
    return row


def weights_of(run: dict, short: bool = False) -> str:
    """How the model started: ImageNet weights, random init (said when "auto" fell back), or "-"."""
    params = run["config"]["model"]["params"]
    if "pretrained" not in params:
        return "-"
    if params["pretrained"] is True:
        return "ImageNet"
    fell_back = any('"auto"' in note for note in run["config"]["notes"])
    if fell_back:
        return "random (auto)" if short else "random (auto: no weights on disk)"
    return "random"


def row_label(row: dict) -> str:
    """The model's name, with how many of its folds are in, for a cross-validated row."""
    return row["model"] + (f" ({row['folds_done']}/{row['folds']} folds)" if row["folds"] > 1 else "")


def format_metric(row: dict, column: str, compact: bool = False) -> str:
    """0.9123, or 0.9123 ± 0.0100 for a cross-validated row (0.912±0.010 when compact, for terminals)."""
    if column + "_std" in row:
        if compact:
            return f"{row[column]:.3f}±{row[column + '_std']:.3f}"
        return f"{row[column]:.4f} ± {row[column + '_std']:.4f}"
    return f"{row[column]:.4f}"


def render_markdown(board: Board, leaderboard_dir: Path) -> str:
    lines = [f"# Leaderboard: {board.dataset}", ""]
    if not board.rows:
        return (
            "\n".join(
                lines
                + ["No finished runs yet: `zoo run --all`."]
                + _problems_markdown(board, leaderboard_dir)
            )
            + "\n"
        )
    first = board.rows[0]["config"]
    p = first["protocol"]
    lines += [
        f"Test split only ({board.rows[0]['n_test']} clips, {len(first['dataset']['classes'])} classes); "
        f"data fingerprint `{first['dataset']['fingerprint']}`; one protocol for all: AdamW lr {p['lr']:g}, "
        f"batch {p['batch_size']}, up to {p['epochs']} epochs, "
        f"early stopping patience {p['early_stop_patience']}, seed {p['seed']}.",
        "Ranked by accuracy, then macro-F1 (cross-validated rows: mean ± std over folds; the run link is the"
        " latest fold). Built from the run folders by `zoo leaderboard`.",
        "",
        *_shortcut_lines(first),
        "| rank | model | accuracy | macro precision | macro recall | macro F1 | epochs (best) | weights "
        "| run | per-class |",
        "|---:|---|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for rank, run in enumerate(board.rows, 1):
        link = Path(os.path.relpath(run["run_dir"], leaderboard_dir)).as_posix()
        lines.append(
            f"| {rank} | {row_label(run)} | "
            + " | ".join(format_metric(run, c) for c in COLUMNS)
            + f" | {run['epochs']} ({run['best_epoch']}) | {weights_of(run)} | [{run['run_id']}]({link}/) "
            + f"| [report]({link}/report.csv) |"
        )
    notes = [f"- {row['model']}: {n}" for row in board.rows for n in row["config"]["notes"]]
    if notes:
        lines += ["", "Notes:", *notes]
    if board.unranked:
        lines += [
            "",
            f"{board.unranked} other finished run(s) are not ranked: older runs of a model, "
            "or runs on other data or another protocol.",
        ]
    return "\n".join(lines + _problems_markdown(board, leaderboard_dir)) + "\n"


def _shortcut_lines(config: dict) -> list[str]:
    """The shortcut warning of the data (zoo.data.shortcuts), when its metadata predicts the label."""
    shortcut = config.get("split", {}).get("shortcut") or {}
    return [f"**Shortcut warning:** {shortcut['warning']}.", ""] if shortcut.get("warning") else []


def _problems_markdown(board: Board, leaderboard_dir: Path) -> list[str]:
    lines = []
    if board.failed:
        lines += ["", "## Failed (not ranked)", "", "| model | run | error |", "|---|---|---|"]
        for run in board.failed:
            link = Path(os.path.relpath(run["run_dir"], leaderboard_dir)).as_posix()
            error = str(run.get("error", "")).replace("|", "\\|")
            lines.append(f"| {run['model']} | [{run['run_id']}]({link}/) | {error} |")
    if board.damaged:
        lines += ["", "## Damaged run folders (not ranked; rerun `zoo run` to retrain them)", ""]
        lines += [f"- {item}" for item in board.damaged]
    return lines


def render_csv(board: Board) -> str:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "rank",
            "model",
            *COLUMNS,
            *(c + "_std" for c in COLUMNS),
            "folds",
            "epochs",
            "best_epoch",
            "weights",
            "run_id",
            "run_dir",
        ]
    )
    for rank, run in enumerate(board.rows, 1):
        writer.writerow(
            [
                rank,
                run["model"],
                *(f"{run[c]:.6f}" for c in COLUMNS),
                *(f"{run[c + '_std']:.6f}" if c + "_std" in run else "" for c in COLUMNS),
                run["folds_done"],
                run["epochs"],
                run["best_epoch"],
                weights_of(run),
                run["run_id"],
                str(run["run_dir"]),
            ]
        )
    return out.getvalue()


def write_leaderboards(experiments: Path, leaderboard_dir: Path) -> list[Board]:
    """Rewrite leaderboard/<dataset>.md and .csv for every data set under experiments/, and the index
    leaderboard/README.md, reading each run folder once; under the leaderboard's lock."""
    experiments, leaderboard_dir = Path(experiments), Path(leaderboard_dir)
    names = (
        sorted(d.name for d in experiments.iterdir() if d.is_dir() and not d.name.startswith("."))
        if experiments.is_dir()
        else []
    )
    with locked(leaderboard_dir / ".lock"):
        sweep_temporaries(leaderboard_dir)
        boards = [build_board(experiments, name) for name in names]
        index = [
            "# Leaderboards",
            "",
            "| data set | models | best | accuracy | failed |",
            "|---|---:|---|---:|---:|",
        ]
        for board in boards:
            write_text(leaderboard_dir / f"{board.dataset}.md", render_markdown(board, leaderboard_dir))
            write_text(leaderboard_dir / f"{board.dataset}.csv", render_csv(board))
            if board.rows:
                best = board.rows[0]
                index.append(
                    f"| [{board.dataset}]({board.dataset}.md) | {len(board.rows)} | {best['model']} | "
                    f"{best['accuracy']:.4f} | {len(board.failed)} |"
                )
        write_text(leaderboard_dir / "README.md", "\n".join(index) + "\n")
    return boards
