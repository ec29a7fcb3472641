"""How a leaderboard row reads, in every table that shows one (markdown, CSV, the terminal): its label,
rank, scores with intervals, comparison with the leader, compute, weights and recipe."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from zoo.evaluate.stats import Comparison


def recipe(config: dict) -> str:
    """How the rows were trained: the fixed learning rate, or the tuning budget every model was given."""
    t = config.get("tuning")
    if not t:
        return f"AdamW lr {config['protocol']['lr']:g}"
    space = ", ".join(f"{k} {low:g}-{high:g} ({kind})" for k, (low, high, kind) in t["space"].items())
    per_trial = f"{t['epochs']} epochs" if t["epochs"] else "the protocol's epochs"
    first = ", the protocol's values first" if t.get("start", "random") == "protocol" else ""
    pruner = ", median pruner" if t["pruner"] == "median" else ""
    scored = "the mean of their later half" if t.get("score", "best") == "late" else "their best epoch"
    return (
        f"AdamW tuned for every model alike: {t['trials']} trials per run ({t['sampler'].upper()} sampler"
        f"{first}{pruner}, {per_trial} each, scored on {scored}) over {space}, chosen on the run's"
        " validation split, never its test"
    )


def chosen_lr(row: dict) -> float:
    """The row's learning rate: the protocol's, or (tuned) the median of what its runs chose."""
    import numpy as np

    tuned = [r["config"].get("tuned") for r in row["runs"]]
    if not all(tuned):
        return row["config"]["protocol"]["lr"]
    return float(np.median([t["chosen"].get("lr", row["config"]["protocol"]["lr"]) for t in tuned]))


def weights_of(run: dict, short: bool = False) -> str:
    """How the model started, as its run recorded it (config.json `weights`, from the model's spec): the
    weights it was given and what they were trained on ("AudioSet"), random init (said when "auto" fell
    back), or "-" for a model without pretrained weights."""
    config = run["config"]
    record = config.get("weights") or _guessed_weights(config)
    if "fell_back" not in record:
        return "-"
    if record["start"] == "pretrained":
        return record["pretrained_on"] or "pretrained"
    if record["fell_back"]:
        return "random (auto)" if short else "random (auto: no weights on disk)"
    return "random"


def _guessed_weights(config: dict) -> dict:
    """The weights record of a run made before runs recorded it: from its params and notes."""
    params = config["model"]["params"]
    if "pretrained" not in params:
        return {"start": "random", "pretrained_on": ""}
    fell_back = any('"auto"' in note for note in config["notes"])
    used = params["pretrained"] is True
    return {"start": "pretrained" if used else "random", "pretrained_on": "", "fell_back": fell_back}


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
    from zoo.evaluate.metrics import by_name
    from zoo.leaderboard import task_of

    metric = by_name(task_of(row))[name]
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
