"""The leaderboard's views: per-class F1 (leaderboard/<dataset>-per-class.md and .png) and, when tuned,
the best validation score by trials (<dataset>-tuning.png), each a registered output."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import zoo
from zoo.io import write_text
from zoo.outputs.figures import pyplot, save_figure

if TYPE_CHECKING:
    import numpy as np

    from zoo.leaderboard import Board


@zoo.hookimpl
def register_outputs(register):
    for name, summary, write in (
        ("{dataset}-per-class.md", "F1 of each class per model", write_per_class),
        ("{dataset}-per-class.png", "the same as a heatmap", write_per_class_plot),
        ("{dataset}-tuning.png", "best validation score by trials, per model", write_tuning),
    ):
        register(zoo.OutputSpec(name, summary, write, "leaderboard"))


def write_per_class(board: Board, folder: Path) -> None:
    if board.rows:
        write_text(folder / f"{board.dataset}-per-class.md", render_per_class(board))


def write_per_class_plot(board: Board, folder: Path) -> None:
    if board.rows:
        plot_per_class(folder / f"{board.dataset}-per-class.png", board)


def write_tuning(board: Board, folder: Path) -> None:
    if any(r["config"].get("tuned") for row in board.rows for r in row["runs"]):
        plot_tuning(folder / f"{board.dataset}-tuning.png", board)


def per_class_table(board: Board) -> tuple[list[str], np.ndarray]:
    """(classes, F1 of each class (rows) for each ranked model (columns)), pooled as the rows are; with
    several labels per clip, each class's average precision."""
    import numpy as np

    from zoo.evaluate.metrics import average_precision, per_class_f1

    classes = board.rows[0]["config"]["dataset"]["classes"]

    def score(y, p):
        return average_precision(y, p, np.ones(len(y))) if y.ndim == 2 else per_class_f1(y, p)

    f1 = [np.mean([score(r["scored"].y, p) for p in r["scored"].probs], axis=0) for r in board.rows]
    return classes, np.stack(f1, axis=1)


def render_per_class(board: Board) -> str:
    classes, f1 = per_class_table(board)
    models = [r["model"] for r in board.rows]
    best = f1.max(axis=1, keepdims=True)
    lines = [
        f"# Per-class F1: {board.dataset}",
        "",
        "F1 of each class on the test clips of each model's runs (pooled as on the "
        f"[leaderboard]({board.dataset}.md); models in rank order, each class's best in bold).",
        "",
        f"![per-class F1]({board.dataset}-per-class.png)",
        "",
        "| class | " + " | ".join(models) + " |",
        "|---|" + "---:|" * len(models),
    ]
    for i, c in enumerate(classes):
        cells = [f"**{v:.3f}**" if v == best[i, 0] else f"{v:.3f}" for v in f1[i]]
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_per_class(path: Path, board: Board) -> None:
    """Heatmap of per-class F1: classes x models."""
    import numpy as np

    plt = pyplot()
    classes, f1 = per_class_table(board)
    models = [r["model"] for r in board.rows]
    fig, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(models) + 3), max(3.0, 0.32 * len(classes) + 1.5)))
    image = ax.imshow(f1, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    for (i, j), v in np.ndenumerate(f1):
        ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7, color="white" if v < 0.6 else "black")
    ax.set_xticks(range(len(models)), models, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(classes)), classes, fontsize=8)
    ax.set_title(f"Per-class F1 ({board.dataset}, test split)")
    fig.colorbar(image, ax=ax, fraction=0.04)
    save_figure(fig, path)


def tuning_curve(trials: list[dict]) -> list[float]:
    """The best validation score of the completed trials after each trial of a study, by trial number: a
    pruned (or failed) trial spends budget and carries the best so far; NaN before the first completed one."""
    best, curve = -math.inf, []
    for trial in sorted(trials, key=lambda t: t["number"]):
        if trial["state"] == "complete" and trial["score"] is not None:
            best = max(best, trial["score"])
        curve.append(best if best > -math.inf else math.nan)
    return curve


def plot_tuning(path: Path, board: Board) -> None:
    """The best validation score found after each trial, per model (the mean over its runs): whether the
    budget was enough (a curve still climbing at the last trial was not) and how the models compare."""
    import numpy as np

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for row in board.rows:
        curves = [tuning_curve(run["config"].get("tuned", {}).get("trials", [])) for run in row["runs"]]
        curves = [c for c in curves if c]
        if curves:
            depth = min(len(c) for c in curves)
            best = np.mean([c[:depth] for c in curves], axis=0)
            ax.plot(np.arange(1, depth + 1), best, marker="o", label=row["model"])
    select = board.rows[0]["config"]["protocol"].get("select", "val_loss")
    ax.set_xlabel("trial (pruned ones included)")
    ax.set_ylabel(f"best {select}" + (" (negated)" if select == "val_loss" else "") + " so far")
    ax.set_title(f"Tuning ({board.dataset}): validation score by trials")
    ax.legend(fontsize=8)
    save_figure(fig, path)
