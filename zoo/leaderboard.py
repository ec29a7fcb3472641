"""Build the ranked leaderboard of a data set from its run folders alone: scores pooled over folds and
seeds with group-bootstrap intervals, a paired comparison of every row with the leader (rows it cannot be
told apart from share its rank), calibration, compute, and a per-class view."""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from zoo.config import features_identity, protocol_identity
from zoo.io import locked, sweep_temporaries, write_text
from zoo.metrics import BY_NAME, METRICS, RANK_BY, per_class_f1
from zoo.runner import run_damage
from zoo.stats import LEVEL, Comparison, Scored, every_metric, paired

# config.json keys that differ by fold (and seed): not what makes runs one configuration
PER_RUN = ("fold", "split", "run_id", "environment", "tuned")
ALPHA = 1 - LEVEL  # rows whose paired p-value against the leader is at least this share its rank


@dataclass
class Board:
    dataset: str
    rows: list[dict]  # ranked, one per model: its latest configuration on the current data and protocol
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
            if outcome.name == "metrics.json" and (damage := run_damage(run_dir)) is not None:
                damaged.append(f"{run_dir}: {' '.join(damage)}")
                continue
            config = json.loads((run_dir / "config.json").read_text())
            record = {**json.loads(outcome.read_text()), "config": config, "run_dir": run_dir}
            if outcome.name == "metrics.json":
                if all(math.isfinite(record.get(m.name, 0.0)) for m in METRICS):
                    finished.append(record)
                    continue
                record["error"] = "its metrics are not finite"
            failed.append(record)
        except (OSError, ValueError, KeyError, TypeError) as exc:  # ValueError: JSON and UTF-8 errors
            damaged.append(f"{run_dir}: {type(exc).__name__} ({' '.join(str(exc).split())[:80]})")
    return finished, failed, damaged


def _key(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _less_seed(protocol: dict) -> dict:
    return {k: v for k, v in protocol_identity(protocol).items() if k != "seed"}


def _fairness_key(run: dict) -> str:
    """Runs are comparable when they share the test data and the protocol (whatever their seed)."""
    c = run["config"]
    return _key(
        {
            "data": c["dataset"]["fingerprint"],
            "protocol": _less_seed(c["protocol"]),
            "features": features_identity(c["features"]),
            "tuning": c.get("tuning"),  # one budget and space for all (absent: the protocol as it is)
            "splits": c["splits"],
        }
    )


def _configuration(run: dict) -> str:
    """The runs of one configuration (one leaderboard row): its config less what differs by fold and seed."""
    config = {k: v for k, v in run["config"].items() if k not in PER_RUN}
    return _key({**config, "protocol": _less_seed(config["protocol"])})


def _slot(run: dict) -> tuple[int, int]:
    return (run.get("fold") or {}).get("index", 1), run["config"]["protocol"].get("seed", 0)


def build_board(experiments: Path, dataset: str) -> Board:
    """Per model, the latest configuration on the newest data and protocol, its runs (folds x seeds) pooled
    into one row; ranked by RANK_BY on the pooled test clips; each row compared with the leader. Failed runs
    on that data and protocol are listed apart, unless their model finished a run since."""
    runs, failed, damaged = read_runs(experiments, dataset)
    if not runs and not failed:
        return Board(dataset, [], 0, [], damaged)
    newest_run = max(runs + failed, key=lambda r: r.get("finished_at") or r.get("failed_at", ""))
    current = _fairness_key(newest_run)
    families: dict[str, dict[tuple[int, int], dict]] = {}  # configuration -> (fold, seed) -> latest run
    newest: dict[str, tuple[str, str]] = {}  # model -> (finished_at, configuration)
    for run in sorted(runs, key=lambda r: r.get("finished_at", "")):
        if _fairness_key(run) != current:
            continue
        family = _configuration(run)
        families.setdefault(family, {})[_slot(run)] = run
        newest[run["model"]] = (run.get("finished_at", ""), family)
    rows = []
    for _, family in newest.values():
        try:
            rows.append(_aggregate(families[family]))
        except (OSError, KeyError, ValueError) as exc:
            damaged.append(f"{_latest(families[family].values())['run_dir']}: predictions.csv: {exc}")
    rows.sort(key=lambda r: ([-r[m] if BY_NAME[m].higher_is_better else r[m] for m in RANK_BY], r["model"]))
    _compare_with_leader(rows)
    # a failed run stays listed while it belongs to its model's row (a fold that failed where the others
    # finished), or is newer than that row; a failed run of a configuration since replaced is history
    failed = [
        f
        for f in failed
        if _fairness_key(f) == current
        and (
            f["model"] not in newest
            or _configuration(f) == newest[f["model"]][1]
            or f.get("failed_at", "") > newest[f["model"]][0]
        )
    ]
    for row in rows:
        mine = [f for f in failed if f["model"] == row["model"] and _configuration(f) == row["family"]]
        row["runs_failed"] = len(mine)
    return Board(dataset, rows, len(runs) - sum(r["runs_done"] for r in rows), failed, damaged)


def _latest(runs) -> dict:
    return max(runs, key=lambda r: r.get("finished_at", ""))


def _aggregate(slots: dict[tuple[int, int], dict]) -> dict:
    """One row from the runs of one configuration: every metric on the test clips of all its folds (each
    clip once; seeds averaged), with its interval; the std of the metric over the runs; compute."""
    latest = _latest(slots.values())
    folds = sorted({fold for fold, _ in slots})
    seeds = sorted({seed for _, seed in slots})
    sweep = latest.get("sweep") or {}
    row = {
        **latest,
        "family": _configuration(latest),
        "runs": list(slots.values()),
        "runs_done": len(slots),
        "runs_planned": sweep.get("folds", (latest.get("fold") or {}).get("of", 1)) * sweep.get("seeds", 1),
        "folds_done": len(folds),
        "seeds_done": len(seeds),
        "train_seconds": float(np.mean([r.get("train_seconds", 0.0) for r in slots.values()])),
    }
    row["scored"] = scored = _pool(slots, latest["config"]["dataset"]["classes"])
    row["n_test"] = len(scored.y)
    scores, row["intervals"] = every_metric(scored), {}
    for metric in METRICS:
        row[metric.name], *row["intervals"][metric.name] = scores[metric.name]
        if len(slots) > 1:
            values = [r.get(metric.name, np.nan) for r in slots.values()]
            row[metric.name + "_std"] = float(np.std(values, ddof=1))
    return row


def _pool(slots: dict[tuple[int, int], dict], classes: list[str]) -> Scored:
    """The test clips of every fold (in fold order) with each seed's probabilities. Folds with more seeds
    than others contribute their first ones, so that every clip has as many seeds as the others."""
    import pandas as pd

    folds: dict[int, list[dict]] = {}
    for (fold, _), run in sorted(slots.items()):
        folds.setdefault(fold, []).append(run)
    depth = min(len(runs) for runs in folds.values())
    index = {c: i for i, c in enumerate(classes)}
    keys, ys, groups, probs = [], [], [], [[] for _ in range(depth)]
    for fold, runs in sorted(folds.items()):
        first = None
        for seed_slot, run in enumerate(runs[:depth]):
            table = pd.read_csv(run["run_dir"] / "predictions.csv", dtype={"label": str, "group": str})
            if first is None:
                first = table
                keys += [f"{fold}\t{p}" for p in table["path"]]
                ys.append(table["label"].map(index).to_numpy())
                groups.append(table["group" if "group" in table else "path"].to_numpy(str))
            elif not table["path"].equals(first["path"]):
                raise ValueError(f"fold {fold}: its seeds were tested on different clips")
            probs[seed_slot].append(table[[f"p_{c}" for c in classes]].to_numpy(float))
    y = np.concatenate(ys)
    if np.isnan(y.astype(float)).any():
        raise ValueError("a test clip's label is not one of the run's classes")
    return Scored(y.astype(int), np.stack([np.concatenate(p) for p in probs]), np.concatenate(groups), keys)


def _compare_with_leader(rows: list[dict]) -> None:
    """Each row's paired difference to the leader on the test clips both were scored on (RANK_BY[0]), and
    its rank: the leader's when the difference is not significant at ALPHA ("tied"), else its position."""
    metric = BY_NAME[RANK_BY[0]]
    for position, row in enumerate(rows, 1):
        row["rank"], row["tied"], row["vs_leader"] = position, False, None
        if position == 1:
            continue
        leader, other = _common(rows[0]["scored"], row["scored"])
        if len(leader.y) == 0:
            continue
        row["vs_leader"] = comparison = paired(other, leader, metric)
        if comparison.p >= ALPHA:
            row["rank"], row["tied"] = 1, True


def _common(a: Scored, b: Scored) -> tuple[Scored, Scored]:
    """a and b on the clips both were tested on, in one order."""
    if a.keys == b.keys:
        return a, b
    shared = sorted(set(a.keys) & set(b.keys))
    return a.subset(shared), b.subset(shared)


def _recipe(config: dict) -> str:
    """How the rows were trained: the fixed learning rate, or the tuning budget every model was given."""
    t = config.get("tuning")
    if not t:
        return f"AdamW lr {config['protocol']['lr']:g}"
    space = ", ".join(f"{k} {low:g}-{high:g} ({kind})" for k, (low, high, kind) in t["space"].items())
    per_trial = f"{t['epochs']} epochs" if t["epochs"] else "the protocol's epochs"
    pruner = ", median pruner" if t["pruner"] == "median" else ""
    return (
        f"AdamW tuned for every model alike: {t['trials']} trials per run ({t['sampler'].upper()} sampler"
        f"{pruner}, {per_trial} each) over {space}, chosen on the run's validation split, never its test"
    )


def chosen_lr(row: dict) -> float:
    """The row's learning rate: the protocol's, or (tuned) the median of what its runs chose."""
    tuned = [r["config"].get("tuned") for r in row["runs"]]
    if not all(tuned):
        return row["config"]["protocol"]["lr"]
    return float(np.median([t["chosen"].get("lr", row["config"]["protocol"]["lr"]) for t in tuned]))


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
    """The model's name, with how many runs it pools when several, and how many of the folds are in when
    some are missing: cnn (6 runs), cnn (4 runs, 2/5 folds)."""
    folds = (row.get("fold") or {}).get("of", 1)
    missing = f", {row['folds_done']}/{folds} folds" if row["folds_done"] < folds else ""
    failed = f", {row['runs_failed']} failed" if row.get("runs_failed") else ""
    runs = f"{row['runs_done']} run" + ("s" if row["runs_done"] > 1 else "")
    shown = row["runs_done"] > 1 or missing or failed
    return row["model"] + (f" ({runs}{missing}{failed})" if shown else "")


def rank_label(row: dict) -> str:
    return f"{row['rank']} (tied)" if row["tied"] else str(row["rank"])


def with_interval(row: dict, name: str, compact: bool = False) -> str:
    """0.9123 (0.8950-0.9281), with ± the std over runs when a row has several (0.9123 ± 0.0120 (...)); or
    0.912 [.895,.928] when compact, for terminals."""
    metric = BY_NAME[name]
    low, high = row["intervals"][name]
    if compact:
        low_text, high_text = (f"{v:.3f}".removeprefix("0") for v in (low, high))
        return f"{row[name]:.3f} [{low_text},{high_text}]"
    spread = f" ± {metric.format(row[name + '_std'])}" if name + "_std" in row else ""
    return f"{metric.format(row[name])}{spread} ({metric.format(low)}-{metric.format(high)})"


def versus_leader(row: dict) -> str:
    """-0.0240 (-0.0500-0.0010), p = 0.07; "leader" for the first row."""
    c: Comparison | None = row["vs_leader"]
    if row["rank"] == 1 and not row["tied"]:
        return "leader"
    if c is None:
        return "-"
    return f"{c.difference:+.4f} ({c.low:+.4f} to {c.high:+.4f}), p = {c.p:.3f}"


def compute_cells(row: dict) -> list[str]:
    c = row.get("compute")
    cells = [f"{c['params'] / 1e6:.2f}", f"{c['macs'] / 1e6:.1f}", f"{c['latency_ms']:.2f}"] if c else []
    return (cells or ["-"] * 3) + [f"{row['train_seconds']:.0f}"]


def render_markdown(board: Board, leaderboard_dir: Path) -> str:
    lines = [f"# Leaderboard: {board.dataset}", ""]
    if not board.rows:
        lines.append("No finished runs yet: `zoo run --all`.")
        return "\n".join(lines + _problems_markdown(board, leaderboard_dir)) + "\n"
    first = board.rows[0]["config"]
    p = first["protocol"]
    ranked, plain = [BY_NAME[m] for m in RANK_BY], [m for m in METRICS if m.name not in RANK_BY]
    lines += [
        f"Test split only ({board.rows[0]['n_test']} clips, {len(first['dataset']['classes'])} classes; "
        f"pooled over folds when cross-validated); data fingerprint `{first['dataset']['fingerprint']}`; "
        f"one protocol for all: {_recipe(first)}, batch {p['batch_size']}, up to {p['epochs']} epochs, "
        f"early stopping patience {p['early_stop_patience']}, the epoch kept chosen by "
        f"{p.get('select', 'val_loss')}.",
        f"Ranked by {' then '.join(m.label for m in ranked)} on the test clips of all a row's runs "
        "(each clip once; seeds averaged); ± is the std of the runs' own scores. Intervals: "
        f"{LEVEL:.0%} bootstrap over the test clips resampled by group (recording) within each class. "
        f"vs leader: the paired difference in {ranked[0].label} on the same clips, its interval and "
        f"p-value; a row whose p >= {ALPHA:g} cannot be told apart from the leader and shares its rank "
        "(tied). "
        "Compute: parameters (M), multiply-accumulates per window (M), CPU latency per window (ms, "
        "batch 1, one thread) and mean training time per run (s). Built from the run folders by "
        "`zoo leaderboard`.",
        "",
        *_shortcut_lines(first),
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


def per_class_table(board: Board) -> tuple[list[str], np.ndarray]:
    """(classes, F1 of each class (rows) for each ranked model (columns)), pooled as the rows are."""
    classes = board.rows[0]["config"]["dataset"]["classes"]
    f1 = [np.mean([per_class_f1(r["scored"].y, p) for p in r["scored"].probs], axis=0) for r in board.rows]
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
    from zoo.evaluator import _figure, save_figure

    plt = _figure()
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


def plot_tuning(path: Path, board: Board) -> None:
    """The best validation score found after each trial, per model (the mean over its runs): whether the
    budget was enough (a curve still climbing at the last trial was not) and how the models compare."""
    from zoo.evaluator import _figure, save_figure

    plt = _figure()
    fig, ax = plt.subplots(figsize=(6, 4))
    for row in board.rows:
        curves = []
        for run in row["runs"]:
            trials = sorted(run["config"].get("tuned", {}).get("trials", []), key=lambda t: t["number"])
            scores = [-np.inf if t["score"] is None else t["score"] for t in trials if t["state"] != "pruned"]
            if scores:
                curves.append(np.maximum.accumulate(scores))
        if curves:
            depth = min(len(c) for c in curves)
            best = np.mean([c[:depth] for c in curves], axis=0)
            ax.plot(np.arange(1, depth + 1), best, marker="o", label=row["model"])
    select = board.rows[0]["config"]["protocol"].get("select", "val_loss")
    ax.set_xlabel("completed trial")
    ax.set_ylabel(f"best {select}" + (" (negated)" if select == "val_loss" else "") + " so far")
    ax.set_title(f"Tuning ({board.dataset}): validation score by trials")
    ax.legend(fontsize=8)
    save_figure(fig, path)


def render_csv(board: Board) -> str:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out)
    per_metric = [f"{m.name}{end}" for m in METRICS for end in ("", "_low", "_high", "_std")]
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
        for m in METRICS:
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


def write_leaderboards(experiments: Path, leaderboard_dir: Path) -> list[Board]:
    """Rewrite leaderboard/<dataset>.md, .csv and -per-class.md/.png for every data set under experiments/,
    and the index leaderboard/README.md, reading each run folder once; under the leaderboard's lock."""
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
            f"Each data set's leader, its {BY_NAME[RANK_BY[0]].label} with its {LEVEL:.0%} interval, and "
            "the models that cannot be told apart from it (tied).",
            "",
            f"| data set | models | leader | {BY_NAME[RANK_BY[0]].label} (95 % CI) | tied with it | failed |",
            "|---|---:|---|---|---|---:|",
        ]
        for board in boards:
            write_text(leaderboard_dir / f"{board.dataset}.md", render_markdown(board, leaderboard_dir))
            write_text(leaderboard_dir / f"{board.dataset}.csv", render_csv(board))
            if board.rows:
                write_text(leaderboard_dir / f"{board.dataset}-per-class.md", render_per_class(board))
                plot_per_class(leaderboard_dir / f"{board.dataset}-per-class.png", board)
                if any(r["config"].get("tuned") for row in board.rows for r in row["runs"]):
                    plot_tuning(leaderboard_dir / f"{board.dataset}-tuning.png", board)
                best = board.rows[0]
                tied = ", ".join(r["model"] for r in board.rows if r["tied"]) or "-"
                index.append(
                    f"| [{board.dataset}]({board.dataset}.md) | {len(board.rows)} | {best['model']} | "
                    f"{with_interval(best, RANK_BY[0])} | {tied} | {len(board.failed)} |"
                )
        write_text(leaderboard_dir / "README.md", "\n".join(index) + "\n")
    return boards
