"""The run folder, experiments/<dataset>/<model>/<run-id>/: the files it holds named in one place, whether a
finished one is whole, how a run is found by id, and how a failure is recorded.

A run's own record is written by zoo.runs.execute; the files derived from it (report.md, plots, per-class
tables) by the registered outputs (zoo.outputs).
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from zoo.errors import ZooError
from zoo.io import read_json, write_json

CONFIG = "config.json"  # everything that made the run; its hash (less `environment`) is the run id
HISTORY = "history.csv"  # per epoch
CHECKPOINT = "checkpoint.pt"  # weights and trainer state, every epoch: an interrupted run resumes from it
NORMALISATION = "normalisation.json"  # the train split's per-bin mean and std: applying the run needs them
PREDICTIONS = "predictions.csv"  # every test clip: label, prediction, probabilities (the leaderboard's input)
SPLITS = "splits.csv"
DUPLICATES = "duplicates.csv"  # only where duplicate files were left out
SKIPPED = "skipped.csv"  # only where clips could not be read
TUNING = "tuning.db"  # only when tuned: the Optuna study
METRICS = "metrics.json"  # written last: its presence marks a finished run
FAILED = "failed.json"  # only in a run that failed

# what every finished run holds besides the outputs' files (zoo.outputs)
RUN_FILES = (CONFIG, HISTORY, METRICS, PREDICTIONS, CHECKPOINT, SPLITS, NORMALISATION)
# files metrics.json does not record the size of: itself, a failure, the tuning study (optuna-dashboard may
# write to it)
UNRECORDED = (METRICS, FAILED, TUNING)
# what a finished run of an older zoo (metrics.json without its `files` manifest) must still hold
NEEDED_FILES = (CONFIG, PREDICTIONS, CHECKPOINT)


def file_sizes(run_dir: Path) -> dict[str, int]:
    """The size of every file of a run that metrics.json records (its `files` manifest)."""
    return {
        p.name: p.stat().st_size
        for p in sorted(run_dir.iterdir())
        if p.is_file() and not p.name.startswith(".") and p.name not in UNRECORDED
    }


def run_damage(run_dir: Path) -> tuple[str, str] | None:
    """(file, why) when a finished run folder (one with metrics.json) cannot be trusted, else None.
    metrics.json, written last, records the size of every other file of the run (`files`): a file missing or
    of another size (truncated, replaced) damages the run, and so does a metrics.json or config.json that
    does not parse. Cheap: reads two small files and stats the rest."""
    read = {}
    for name in (METRICS, CONFIG):
        try:
            read[name] = read_json(run_dir / name)
        except ZooError:
            return name, "does not parse"
        except FileNotFoundError:
            return name, "is missing"
        if not isinstance(read[name], dict):
            return name, "is not a run's"
    from zoo.evaluate.metrics import metrics_for

    metrics = read[METRICS]
    SCORES = metrics_for("multilabel" if metrics.get("task") == "multilabel" else "single")
    needed = ("model", "run_id", *(m.name for m in SCORES))
    if any(k not in metrics for k in needed) or not all(
        isinstance(metrics[m.name], (int, float)) for m in SCORES
    ):
        return METRICS, "lacks what a run records (edited?)"
    files = metrics.get("files") or {name: None for name in NEEDED_FILES}
    for name, size in files.items():
        path = run_dir / name
        if not path.is_file():
            return name, "is missing"
        if size is not None and path.stat().st_size != size:
            return name, f"has {path.stat().st_size} bytes, not the {size} it was written with (truncated?)"
    return None


def retire_damaged(run_dir: Path, damaged_file: str) -> None:
    """Make a damaged finished run an unfinished one: without metrics.json it is retrained, resuming from
    its checkpoint (the finished one: evaluation only) unless the checkpoint is what is damaged."""
    (run_dir / METRICS).unlink(missing_ok=True)
    if damaged_file == CHECKPOINT:
        (run_dir / CHECKPOINT).unlink(missing_ok=True)


def find_run(run: str | Path, experiments: str | Path) -> Path:
    """The run folder `run` names: a folder, or a run id (or its first characters) under `experiments`."""
    if Path(run).is_dir():
        return Path(run)
    matches = sorted({p.parent for p in Path(experiments).glob(f"*/*/{run}*/{CONFIG}")})
    if not matches:
        raise ZooError(f"No run {str(run)!r} under {experiments}: see 'zoo leaderboard' for run ids.")
    if len(matches) > 1:
        raise ZooError(f"Run id {str(run)!r} is ambiguous ({len(matches)} runs): give more characters.")
    return matches[0]


def record_failure(plan, folder: Path, error: str, trace: str = "") -> None:
    """failed.json in `folder`: why the planned run (a zoo.runs.plan.RunPlan) failed, in one line, the
    traceback, when; and config.json when the run died before writing it, so that the leaderboard lists the
    failure with its configuration."""
    if not (folder / CONFIG).is_file():
        write_json(folder / CONFIG, {**plan.config, "run_id": plan.run_id})
    write_json(
        folder / FAILED,
        {
            "model": plan.model,
            "run_id": plan.run_id,
            "dataset": plan.config["dataset"]["key"],
            "fold": plan.config.get("fold"),
            "error": " ".join(error.split()),
            "traceback": trace,
            "failed_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        },
    )
