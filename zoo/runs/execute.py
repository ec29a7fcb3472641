"""Execute one planned run under its lock: tune (when asked), train, evaluate on the test split, and write its
run folder, resuming an interrupted run and replacing a finished one only once its retrain is complete."""

from __future__ import annotations

import dataclasses
import platform
import shutil
import traceback
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from zoo.errors import ZooError, ZooWarning
from zoo.io import locked, read_json, sweep_temporaries, write_csv, write_json
from zoo.runs import folder as files
from zoo.runs.folder import record_failure, retire_damaged, run_damage
from zoo.runs.plan import RunPlan


def _nothing(*_) -> None:
    pass


@dataclass
class Listener:
    """What a run tells as it goes (zoo.sweep turns it into events): `start` what this process found under
    the run's lock ({"finished", "resuming", "damaged"}), `epoch` each epoch's history row, `trial` each
    finished tuning trial, `waiting` what another zoo process is doing while this one waits for it."""

    start: Callable[[dict], None] = _nothing
    epoch: Callable[[dict], None] = _nothing
    trial: Callable[[dict], None] = _nothing
    waiting: Callable[[str], None] = _nothing


class RunFailed(ZooError):
    """A run that could not finish (its model failed to build, its loss diverged...). It is recorded in
    failed.json of its folder and never ranked; the other runs go on."""

    def __init__(self, message: str, run_dir: Path):
        super().__init__(message)
        self.run_dir = run_dir


def execute(plan: RunPlan, project, force: bool = False, listener: Listener | None = None) -> dict:
    """Train and evaluate one planned run under its lock, and return its metrics. An unfinished run resumes
    from its checkpoint; a finished one is returned as it is, or (force) retrained beside it and replaced
    only once the new one is complete; a damaged one (see run_damage) is retrained. A run that fails is
    recorded (failed.json) and raises RunFailed. `project`: the zoo.project.Project it was planned in."""
    listener = listener or Listener()
    lock = plan.run_dir.parents[2] / ".locks" / f"{plan.run_id}.lock"  # not beside the run: nothing to list
    with locked(lock, lambda: listener.waiting(f"run {plan.run_id} is being trained by another zoo process")):
        _recover(plan)
        damage = run_damage(plan.run_dir) if plan.finished and not force else None
        if damage is not None:
            retire_damaged(plan.run_dir, damage[0])
        found = {
            "finished": plan.finished and not force,
            "resuming": not force and not plan.finished and (plan.run_dir / files.CHECKPOINT).is_file(),
            "damaged": f"{damage[0]} {damage[1]}" if damage else None,
        }
        listener.start(found)
        if found["finished"]:
            return read_json(plan.run_dir / files.METRICS)
        work = plan.staging if plan.finished else plan.run_dir
        if force:  # from scratch; when the run is finished, `work` is beside it, which is replaced below
            shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True, exist_ok=True)
        sweep_temporaries(work)
        (work / files.FAILED).unlink(missing_ok=True)
        try:
            train_and_evaluate(plan, work, project, listener)
        except Exception as exc:
            message = str(exc) if isinstance(exc, ZooError) else f"{type(exc).__name__}: {exc}"
            # the traceback holds the plugin's own error behind a ZooError
            record_failure(plan, work, message, traceback.format_exc())
            kept = " (the finished run is kept)" if work == plan.staging else ""
            raise RunFailed(
                f"{plan.model}: run {plan.run_id} failed{kept}: {' '.join(message.split())}", work
            ) from exc
        if work == plan.staging:
            plan.run_dir.rename(plan.replaced)  # a kill between these renames is undone by _recover
            work.rename(plan.run_dir)
            shutil.rmtree(plan.replaced)
        return read_json(plan.run_dir / files.METRICS)


def _recover(plan: RunPlan) -> None:
    """Finish or undo a swap that a killed process left half done (see execute)."""
    if not plan.run_dir.exists():
        if (plan.staging / files.METRICS).is_file():
            plan.staging.rename(plan.run_dir)
        elif plan.replaced.exists():
            plan.replaced.rename(plan.run_dir)
    if plan.replaced.exists() and plan.finished:
        shutil.rmtree(plan.replaced)


def train_and_evaluate(plan: RunPlan, work: Path, project, listener: Listener) -> None:
    """Train in `work` (resuming from its checkpoint; tuned first when [tuning] trials > 0), evaluate on the
    test split, write the run files."""
    import torch

    from zoo.train.trainer import Trainer

    settings = project.settings
    config = {**plan.config, "run_id": plan.run_id, "environment": _environment(settings)}
    write_json(work / files.CONFIG, config)
    splits = project.splits(plan.config.get("fold", {}).get("index", 1))
    data, val, test = _data(project, splits, work)
    protocol = plan.protocol
    if settings.tuning.trials:  # the study sees `data` (train and validation) only, never `test`
        sources = _validation_sources(splits)  # said before the trials
        chosen, config["tuned"] = _tune(plan, work, project, data, listener)
        config["tuned"]["validation"] = sources
        protocol = dataclasses.replace(protocol, **chosen)
        write_json(work / files.CONFIG, config)
    torch.manual_seed(protocol.seed)
    model = build_model(project, plan, data.num_classes)
    trainer = Trainer(protocol, checkpoint=work / files.CHECKPOINT, on_epoch=listener.epoch)
    history = trainer.fit(model, data)
    import pandas as pd

    write_csv(work / files.HISTORY, pd.DataFrame(history))
    _evaluate(plan, work, project, splits, (model, trainer.device, data, val, test), history)


def _data(project, splits, work: Path):
    """(the TrainData of the train and validation splits, the validation split, the test split), normalised
    as the run will be applied: normalisation.json holds the train split's per-bin statistics."""
    from zoo.data.normalise import bin_stats, normalise_windows
    from zoo.train.batches import TrainData

    prepared, normalise = project.prepared(), project.settings.features.normalise
    train, val, test = (prepared.split(splits, s) for s in ("train", "val", "test"))
    for split in (train, val, test):
        split.x = normalise_windows(split.x, normalise)
    mean, std = bin_stats(train.x)  # per mel bin, train windows only
    write_json(work / files.NORMALISATION, {"mean": mean.flatten().tolist(), "std": std.flatten().tolist()})
    n = len(splits.classes)
    return TrainData(train.x, train.y, val.x, val.y, n, mean, std, train.clip, train.start), val, test


def _validation_sources(splits) -> dict:
    """What the study's scores rest on (config.json's tuned.validation); a warning when it is few sources."""
    import warnings

    from zoo.train.tuning import few_sources_warning, validation_sources

    sources = validation_sources(splits.clips)
    if (message := few_sources_warning(sources)) is not None:
        warnings.warn(ZooWarning(message))
    return sources


def _tune(plan: RunPlan, work: Path, project, data, listener: Listener) -> tuple[dict, dict]:
    import torch

    from zoo.train.trainer import Trainer
    from zoo.train.tuning import tune

    def fit(trial_protocol, on_trial_epoch):
        torch.manual_seed(trial_protocol.seed)
        model = build_model(project, plan, data.num_classes)
        return Trainer(trial_protocol, on_epoch=on_trial_epoch).fit(model, data)

    tuning = project.settings.tuning
    storage = tuning.storage or f"sqlite:///{(work / files.TUNING).resolve()}"
    return tune(plan.protocol, tuning, fit, plan.run_id, storage, listener.trial)


def _evaluate(plan: RunPlan, work: Path, project, splits, trained, history: list[dict]) -> None:
    """The test split through the trained model; the run's record and every registered output written,
    metrics.json last."""
    from zoo.compute import measure
    from zoo.outputs import write_run_outputs

    model, device = trained[:2]
    settings, prepared = project.settings, project.prepared()
    ev = _judge(splits, *trained)
    write_csv(work / files.PREDICTIONS, ev.predictions)
    kept = [c for c in ("path", "label", "labels", "group", "split") if c in splits.clips.columns]
    write_csv(work / files.SPLITS, splits.clips[kept])
    if len(splits.duplicates):
        write_csv(work / files.DUPLICATES, splits.duplicates)
    if prepared.skipped:
        import pandas as pd

        write_csv(work / files.SKIPPED, pd.DataFrame(prepared.skipped))
    best = [r for r in history if r["best"]][-1]  # the epoch restored (zoo.train.stopping)
    ev.metrics |= {
        "model": plan.model,
        "run_id": plan.run_id,
        "dataset": settings.dataset.key,
        "fold": plan.config.get("fold"),
        "seed": plan.protocol.seed,
        "sweep": {"folds": plan.protocol.folds, "seeds": plan.protocol.seeds},
        "epochs": len(history),
        "best_epoch": best["epoch"],
        "train_seconds": round(sum(r["seconds"] for r in history), 2),  # every epoch, resumed ones too
        "device": str(device),
        "compute": measure(model, settings.features.n_mels, settings.features.frames),
        "notes": plan.config["notes"],
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    ev.history = history
    write_run_outputs(project.registry, work, ev)
    # the size of every file of the run, so that one truncated or replaced later is found (run_damage)
    write_json(work / files.METRICS, {**ev.metrics, "files": files.file_sizes(work)})


def _judge(splits, model, device, data, val, test):
    """The Evaluation of the test split (zoo.evaluate): one label per clip, or several, whose per-class
    thresholds are chosen on the validation split's clips before the test split is looked at."""
    from zoo.evaluate import clip_pool
    from zoo.evaluate.evaluator import clip_probabilities, evaluate, predict

    multilabel = test.clip_y.ndim == 2
    pool = clip_pool(multilabel)

    def clip_probs(split):
        window_probs = predict(model, split.x, device, data.mean, data.std, multilabel=multilabel)
        return clip_probabilities(window_probs, split.clip, len(split.paths), pool)

    groups = splits.clips.set_index("path").loc[test.paths, "group"].to_numpy()
    if not multilabel:
        return evaluate(clip_probs(test), test.clip_y.numpy(), splits.classes, test.paths, groups)
    from zoo.evaluate.multilabel import choose_thresholds, evaluate_multilabel

    thresholds = choose_thresholds(val.clip_y.numpy(), clip_probs(val))
    return evaluate_multilabel(
        clip_probs(test), test.clip_y.numpy(), splits.classes, test.paths, groups, thresholds
    )


def build_model(project, plan: RunPlan, num_classes: int):
    """The planned model, built by its plugin and checked to map the features' input to `num_classes`
    logits (a plugin's error named with it)."""
    import torch

    registry, f = project.registry, project.settings.features
    spec = registry.model(plan.config["model"].get("builds", plan.model))
    try:
        model = spec.build(num_classes, **plan.params)
    except ZooError:
        raise
    except Exception as exc:
        plugin = registry.plugin_of("model", spec.name)
        raise ZooError(
            f"Model {plan.model!r} (plugin {plugin!r}) failed to build: {type(exc).__name__}: {exc}"
        ) from exc
    with torch.no_grad():
        model.eval()
        out = model(torch.zeros(2, 1, f.n_mels, f.frames))
    if tuple(out.shape) != (2, num_classes):
        raise ZooError(
            f"Model {plan.model!r} maps (2, 1, {f.n_mels}, {f.frames}) to {tuple(out.shape)}, "
            f"not (2, {num_classes}) logits: fix its build()."
        )
    return model


def _environment(settings) -> dict:
    import torch

    import zoo
    from zoo.train.trainer import autocast_dtype, pick_device

    device = pick_device(settings.protocol.device)
    versions = {"zoo": zoo.__version__, "python": platform.python_version(), "torch": torch.__version__}
    try:
        import timm

        versions["timm"] = timm.__version__
    except ImportError:
        pass
    dtype = autocast_dtype(device, settings.protocol.amp)
    return {
        **versions,
        "device": str(device),
        "precision": str(dtype or torch.float32).replace("torch.", ""),
        "data_root": str(settings.data_root or ""),
    }
