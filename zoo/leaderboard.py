"""Build the ranked leaderboard of a data set from its run folders alone: scores pooled over folds and
seeds with group-bootstrap intervals, a paired comparison of every row with the leader (rows it cannot be
told apart from share its rank), calibration, compute, and a per-class view."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from zoo.config import digest, features_identity, protocol_identity
from zoo.data.clips import targets
from zoo.evaluate.metrics import metrics_for, ranking
from zoo.evaluate.stats import LEVEL, Scored, every_metric, paired
from zoo.io import locked, sweep_temporaries
from zoo.runs import folder as files
from zoo.runs.folder import run_damage

# config.json keys that differ by fold (and seed): not what makes runs one configuration
PER_RUN = ("fold", "split", "run_id", "environment", "tuned", "weights")
ALPHA = 1 - LEVEL  # rows whose paired p-value against the leader is at least this share its rank


@dataclass
class Board:
    dataset: str
    rows: list[dict]  # ranked, one per model: its latest configuration on the current data and protocol
    unranked: int  # finished runs left out: older runs of a model, or other data/protocol
    # runs that failed (model, run_id, error, run_dir): never ranked
    failed: list[dict] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)  # run files that could not be read, with why
    task: str = "single"  # its runs' task (zoo.evaluate.metrics.TASKS): which metrics it ranks by


def read_runs(experiments: Path, dataset: str) -> tuple[list[dict], list[dict], list[str]]:
    """Every run folder of `dataset`: (finished runs, failed runs, damaged files). A finished run is its
    metrics.json and config.json merged into one record; one with non-finite metrics counts as failed.
    Hidden folders (a retrain in progress) are not runs yet."""
    finished, failed, damaged = [], [], []
    for run_dir in sorted((Path(experiments) / dataset).glob("*/*/")):
        if run_dir.name.startswith(".") or not (run_dir / files.CONFIG).is_file():
            continue
        outcome = next((run_dir / n for n in (files.METRICS, files.FAILED) if (run_dir / n).is_file()), None)
        if outcome is None:
            continue  # being trained, or interrupted: it resumes
        try:
            if outcome.name == files.METRICS and (damage := run_damage(run_dir)) is not None:
                damaged.append(f"{run_dir}: {' '.join(damage)}")
                continue
            config = json.loads((run_dir / files.CONFIG).read_text())
            record = {**json.loads(outcome.read_text()), "config": config, "run_dir": run_dir}
            if outcome.name == files.METRICS:
                if all(math.isfinite(record.get(m.name, 0.0)) for m in metrics_for(task_of(record))):
                    finished.append(record)
                    continue
                record["error"] = "its metrics are not finite"
            failed.append(record)
        except (OSError, ValueError, KeyError, TypeError) as exc:  # ValueError: JSON and UTF-8 errors
            damaged.append(f"{run_dir}: {type(exc).__name__} ({' '.join(str(exc).split())[:80]})")
    return finished, failed, damaged


def _less_seed(protocol: dict) -> dict:
    return {k: v for k, v in protocol_identity(protocol).items() if k != "seed"}


def _fairness_key(run: dict) -> str:
    """Runs are comparable when they share the test data and the protocol (whatever their seed)."""
    c = run["config"]
    return digest(
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
    return digest({**config, "protocol": _less_seed(config["protocol"])})


def _slot(run: dict) -> tuple[int, int]:
    return (run.get("fold") or {}).get("index", 1), run["config"]["protocol"].get("seed", 0)


def build_board(experiments: Path, dataset: str) -> Board:
    """Per model, the latest configuration on the newest data and protocol, its runs (folds x seeds) pooled
    into one row; ranked by its task's ranking metrics (zoo.evaluate.metrics.RANKS) on the pooled test clips;
    each row compared with the leader. Failed runs on that data and protocol are listed apart, unless their
    model finished a run since."""
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
    task = task_of(newest_run)
    order = ranking(task)[0]
    rows.sort(key=lambda r: ([-r[m.name] if m.higher_is_better else r[m.name] for m in order], r["model"]))
    _compare_with_leader(rows, order[0])
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
    return Board(dataset, rows, len(runs) - sum(r["runs_done"] for r in rows), failed, damaged, task)


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
    for metric in metrics_for(task_of(latest)):
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
    keys, ys, groups, probs, thresholds = [], [], [], [[] for _ in range(depth)], [[] for _ in range(depth)]
    for fold, runs in sorted(folds.items()):
        first = None
        for seed_slot, run in enumerate(runs[:depth]):
            types = {"label": str, "labels": str, "group": str}
            table = pd.read_csv(run["run_dir"] / files.PREDICTIONS, dtype=types, keep_default_na=False)
            if first is None:
                first = table
                keys += [f"{fold}\t{p}" for p in table["path"]]
                ys.append(
                    targets(table, classes) if "labels" in table else table["label"].map(index).to_numpy()
                )
                groups.append(table["group" if "group" in table else "path"].to_numpy(str))
            elif not table["path"].equals(first["path"]):
                raise ValueError(f"fold {fold}: its seeds were tested on different clips")
            probs[seed_slot].append(table[[f"p_{c}" for c in classes]].to_numpy(float))
            if "labels" in table:  # multi-label: the run's own thresholds, chosen on its validation split
                cut = [run.get("thresholds", {}).get(c, 0.5) for c in classes]
                thresholds[seed_slot].append(np.tile(cut, (len(table), 1)))
    y = np.concatenate(ys)
    if np.isnan(y.astype(float)).any():
        raise ValueError("a test clip's label is not one of the run's classes")
    groups, stacked = np.concatenate(groups), np.stack([np.concatenate(p) for p in probs])
    if y.ndim == 2:
        return Scored(y, stacked, groups, keys, np.stack([np.concatenate(t) for t in thresholds]))
    return Scored(y.astype(int), stacked, groups, keys)


def _compare_with_leader(rows: list[dict], metric) -> None:
    """Each row's paired difference to the leader on the test clips both were scored on (`metric`), and
    its rank: the leader's when the difference is not significant at ALPHA ("tied"), else its position."""
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


def task_of(run: dict) -> str:
    """A run's task, from its record: "multilabel", or "single" (every run before multi-label existed)."""
    return run.get("task") or run.get("config", {}).get("task") or "single"


def _common(a: Scored, b: Scored) -> tuple[Scored, Scored]:
    """a and b on the clips both were tested on, in one order."""
    if a.keys == b.keys:
        return a, b
    shared = sorted(set(a.keys) & set(b.keys))
    return a.subset(shared), b.subset(shared)


def write_leaderboards(experiments: Path, leaderboard_dir: Path, registry=None) -> list[Board]:
    """Every data set under experiments/ ranked (each run folder read once), and the leaderboard files of the
    registered outputs (zoo.outputs: <dataset>.md, .csv, per-class views, README.md...) rewritten, under the
    leaderboard's lock. `registry`: the plugins whose outputs write (default: the installed ones)."""
    from zoo.outputs import write_board_outputs
    from zoo.registry import load_registry

    experiments, leaderboard_dir = Path(experiments), Path(leaderboard_dir)
    names = (
        sorted(d.name for d in experiments.iterdir() if d.is_dir() and not d.name.startswith("."))
        if experiments.is_dir()
        else []
    )
    with locked(leaderboard_dir / ".lock"):
        sweep_temporaries(leaderboard_dir)
        boards = [build_board(experiments, name) for name in names]
        write_board_outputs(registry or load_registry(), leaderboard_dir, boards)
    return boards
