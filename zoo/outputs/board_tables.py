"""The leaderboard as files: leaderboard/<dataset>.md (ranked, every metric with its interval, the
comparison with the leader, compute, notes), <dataset>.csv (the same, machine-readable) and README.md (each
data set's leader), each a registered output."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import TYPE_CHECKING

import zoo
from zoo.io import write_text
from zoo.outputs.cells import (
    chosen_lr,
    compute_cells,
    rank_label,
    recipe,
    row_label,
    versus_leader,
    weights_of,
    with_interval,
)

if TYPE_CHECKING:
    from zoo.evaluate.stats import Comparison
    from zoo.leaderboard import Board


@zoo.hookimpl
def register_outputs(register):
    for name, summary, write, scope in (
        ("{dataset}.md", "the ranked leaderboard", write_markdown, "leaderboard"),
        ("{dataset}.csv", "the leaderboard, machine-readable", write_csv, "leaderboard"),
        ("README.md", "each data set's leader", write_index, "index"),
    ):
        register(zoo.OutputSpec(name, summary, write, scope))


def write_markdown(board: Board, folder: Path) -> None:
    write_text(folder / f"{board.dataset}.md", render_markdown(board, folder))


def write_csv(board: Board, folder: Path) -> None:
    write_text(folder / f"{board.dataset}.csv", render_csv(board))


def render_markdown(board: Board, leaderboard_dir: Path) -> str:
    """leaderboard/<dataset>.md: how it was made, the ranked rows, the spread over runs, notes, problems."""
    from zoo.evaluate.metrics import ranking

    lines = [f"# Leaderboard: {board.dataset}", ""]
    if not board.rows:
        lines.append("No finished runs yet: `zoo run --all`.")
        return "\n".join(lines + _problems_markdown(board, leaderboard_dir)) + "\n"
    ranked, plain = ranking(board.task)
    lines += [
        *_how_it_was_made(board, ranked),
        "",
        *_shortcut_lines(board.rows[0]["config"]),
        "| rank | model | "
        + " | ".join(f"{m.label} (95 % CI)" for m in ranked)
        + " | vs leader | "
        + " | ".join(m.label for m in plain)
        + " | params M | MACs M | CPU ms | train s | lr | weights | run |",
        "|---:|---|" + "---:|" * len(ranked) + "---|" + "---:|" * (len(plain) + 5) + "---|---|",
    ]
    for row in board.rows:
        link = Path(os.path.relpath(row["run_dir"], leaderboard_dir)).as_posix()
        lines.append(
            f"| {rank_label(row)} | {row_label(row)} | "
            + " | ".join(with_interval(row, m.name) for m in ranked)
            + f" | {versus_leader(row)} | "
            + " | ".join(m.format(row[m.name]) for m in plain)
            + " | "
            + " | ".join(compute_cells(row))
            + f" | {chosen_lr(row):.2g} | {weights_of(row)} | [{row['run_id'][:8]}]({link}/report.md) |"
        )
    lines += ["", f"Per class: [{board.dataset}-per-class.md]({board.dataset}-per-class.md)."]
    lines += _spread_and_notes(board, ranked)
    return "\n".join(lines + _problems_markdown(board, leaderboard_dir)) + "\n"


def ema_phrase(protocol: dict) -> str:
    """How the weights kept were averaged, when they were (protocol.ema_epochs), for the header's recipe."""
    horizon = protocol.get("ema_epochs", 0)
    return f" among the weights' moving averages over {horizon:g} epochs" if horizon else ""


def progress_phrase(protocol: dict) -> str:
    """What early stopping counted as progress (protocol.stop_on), for the header's recipe."""
    if protocol.get("stop_on", "select") == "select_or_loss":
        return " (progress: a better score or a lower validation loss)"
    return " (progress: a better score)"


def _how_it_was_made(board: Board, ranked: list) -> list[str]:
    """The test data, the protocol (or tuning budget) every row shares, and how to read the table."""
    from zoo.evaluate.stats import LEVEL
    from zoo.leaderboard import ALPHA

    first = board.rows[0]["config"]
    p = first["protocol"]
    return [
        f"Test split only ({board.rows[0]['n_test']} clips, {len(first['dataset']['classes'])} classes; "
        f"pooled over folds when cross-validated); data fingerprint `{first['dataset']['fingerprint']}`; "
        f"one protocol for all: {recipe(first)}, batch {p['batch_size']}, up to {p['epochs']} epochs, "
        f"early stopping patience {p['early_stop_patience']}{progress_phrase(p)}, the epoch kept chosen by "
        f"{p.get('select', 'val_loss')}{ema_phrase(p)}.",
        f"Ranked by {' then '.join(m.label for m in ranked)} on the test clips of all a row's runs "
        "(each clip once; seeds averaged); ± is the std of the runs' own scores. Intervals: "
        f"{LEVEL:.0%} bootstrap over the test clips resampled by group (recording) within each class. "
        f"vs leader: the paired difference in {ranked[0].label} on the same clips, its interval and "
        f"p-value; a row whose p >= {ALPHA:g} cannot be told apart from the leader and shares its rank "
        "(tied). "
        "Compute: parameters (M), multiply-accumulates per window (M), CPU latency per window (ms, "
        "batch 1, one thread) and mean training time per run (s). Built from the run folders by "
        "`zoo leaderboard`.",
    ]


def _spread_and_notes(board: Board, ranked: list) -> list[str]:
    lines = []
    several = [r for r in board.rows if r["runs_done"] > 1]
    if several:
        lines += ["", "Spread over runs (std of each run's own score):"]
        lines += [
            f"- {r['model']}: "
            + ", ".join(f"{m.label} ± {r[m.name + '_std']:.4f}" for m in ranked)
            + f" over {r['runs_done']} runs ({r['folds_done']} fold(s) x {r['seeds_done']} seed(s))"
            for r in several
        ]
    notes = [f"- {row['model']}: {n}" for row in board.rows for n in row["config"]["notes"]]
    if notes:
        lines += ["", "Notes:", *notes]
    if board.unranked:
        lines += [
            "",
            f"{board.unranked} other finished run(s) are not ranked: older runs of a model, "
            "or runs on other data or another protocol.",
        ]
    return lines


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
    from zoo.evaluate.metrics import metrics_for

    shown = metrics_for(board.task)

    out = io.StringIO()
    writer = csv.writer(out)
    per_metric = [f"{m.name}{end}" for m in shown for end in ("", "_low", "_high", "_std")]
    writer.writerow(
        [
            "rank",
            "tied",
            "model",
            *per_metric,
            "vs_leader",
            "vs_leader_low",
            "vs_leader_high",
            "vs_leader_p",
            "runs",
            "folds",
            "seeds",
            "n_test",
            "params",
            "macs",
            "latency_ms",
            "train_seconds",
            "weights",
            "run_id",
            "run_dir",
        ]
    )
    for row in board.rows:
        c: Comparison | None = row["vs_leader"]
        compute = row.get("compute") or {}
        values = []
        for m in shown:
            low, high = row["intervals"][m.name]
            values += [f"{row[m.name]:.6f}", f"{low:.6f}", f"{high:.6f}", f"{row.get(m.name + '_std', '')}"]
        writer.writerow(
            [
                row["rank"],
                row["tied"],
                row["model"],
                *values,
                *((f"{c.difference:.6f}", f"{c.low:.6f}", f"{c.high:.6f}", f"{c.p:.4f}") if c else [""] * 4),
                row["runs_done"],
                row["folds_done"],
                row["seeds_done"],
                row["n_test"],
                compute.get("params", ""),
                compute.get("macs", ""),
                compute.get("latency_ms", ""),
                f"{row['train_seconds']:.1f}",
                weights_of(row),
                row["run_id"],
                str(row["run_dir"]),
            ]
        )
    return out.getvalue()


def write_index(boards: list[Board], folder: Path) -> None:
    """leaderboard/README.md: each data set's leader, its headline score (accuracy; mAP for several labels
    per clip) with its interval, the models tied with it."""
    from zoo.evaluate.metrics import ranking
    from zoo.evaluate.stats import LEVEL

    headline = {b.dataset: ranking(b.task)[0][0] for b in boards if b.rows}
    labels = sorted({m.label for m in headline.values()})
    label = labels[0] if len(labels) == 1 else "headline score"
    index = [
        "# Leaderboards",
        "",
        f"Each data set's leader, its {label} with its {LEVEL:.0%} interval, and "
        "the models that cannot be told apart from it (tied).",
        "",
        f"| data set | models | leader | {label} (95 % CI) | tied with it | failed |",
        "|---|---:|---|---|---|---:|",
    ]
    for board in boards:
        if board.rows:
            best, metric = board.rows[0], headline[board.dataset]
            tied = ", ".join(r["model"] for r in board.rows if r["tied"]) or "-"
            named = "" if len(labels) == 1 else f"{metric.label} "
            index.append(
                f"| [{board.dataset}]({board.dataset}.md) | {len(board.rows)} | {best['model']} | "
                f"{named}{with_interval(best, metric.name)} | {tied} | {len(board.failed)} |"
            )
    write_text(folder / "README.md", "\n".join(index) + "\n")
