"""Plan and execute runs: clip table -> cache -> Trainer -> Evaluator -> run folder."""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from zoo.config import Settings, settings_dict
from zoo.errors import ZooError
from zoo.io import write_csv, write_json
from zoo.registry import Registry

RUN_FILES = ("config.json", "history.csv", "metrics.json", "report.csv", "predictions.csv",
             "misclassified.csv", "confusion.png", "curves.png", "checkpoint.pt", "splits.csv")


def dataset_root(settings: Settings, registry: Registry) -> Path:
    spec = registry.dataset(settings.dataset.name)
    if settings.data_root is not None:
        return settings.data_root
    if spec.needs_root:
        raise ZooError(
            f"Data set {spec.name!r} needs a data root: pass --data-root PATH or set root in [dataset] of registry.toml."
        )
    return settings.path("cache") / "datasets" / spec.name


def load_clip_table(settings: Settings, registry: Registry):
    """The active data set's clip table, checked."""
    from zoo.data.clips import check_clip_table

    spec = registry.dataset(settings.dataset.name)
    options = _merge(spec.defaults, settings.dataset.options, f"dataset.options for {spec.name!r}")
    root = dataset_root(settings, registry)
    if spec.needs_root and not root.exists():
        raise ZooError(f"Data root {root} does not exist: fix --data-root or [dataset] root in registry.toml.")
    plugin = registry.plugin_of("dataset", spec.name)
    try:
        table = spec.load(root, **options)
    except ZooError:
        raise
    except Exception as exc:
        raise ZooError(f"Data set {spec.name!r} (plugin {plugin!r}) failed to load {root}: {type(exc).__name__}: {exc}") from exc
    return check_clip_table(table, f"data set {spec.name!r} at {root}")


def prepare_data(settings: Settings, registry: Registry, progress=None):
    """Build (or reuse) the feature cache of the active data set."""
    from zoo.data.cache import prepare

    table = load_clip_table(settings, registry)
    cache_root = settings.path("cache") / "features" / settings.dataset.key
    return prepare(table, settings.features, cache_root, progress=progress)


def split_data(settings: Settings, prepared, fold: int = 1):
    """The SplitPlan of the prepared clips for `fold` (1 when not cross-validating)."""
    from zoo.data.splits import plan_splits

    return plan_splits(prepared.clips, settings.splits, settings.dataset.duplicates, settings.protocol.folds, fold)


@dataclass
class RunPlan:
    model: str
    params: dict
    config: dict
    run_id: str
    run_dir: Path

    @property
    def finished(self) -> bool:
        return (self.run_dir / "metrics.json").is_file()


def plan_run(settings: Settings, registry: Registry, model: str, prepared, splits, fold: int = 1) -> RunPlan:
    """Everything that makes the run, and its id: a hash of config.json less its `environment`."""
    spec = registry.model(model)
    params = _merge(spec.defaults, settings.models.get(model, {}), f"[models.{model}]")
    notes: list[str] = []
    if spec.resolve:
        params, notes = spec.resolve(params)
    config = {
        "model": {"name": model, "plugin": registry.plugin_of("model", model), "params": params},
        "dataset": {**settings_dict(settings.dataset), "key": settings.dataset.key,
                    "fingerprint": prepared.fingerprint, "classes": splits.classes},
        "split": {"sizes": {k: int(v) for k, v in splits.clips["split"].value_counts().items()},
                  "warnings": splits.warnings},
        "features": prepared.meta["features"],
        "splits": asdict(settings.splits),
        "protocol": asdict(settings.protocol),
        "evaluation": "test clips only; a clip's probabilities are the mean over its windows "
                      f"(up to {settings.features.max_windows} per clip)",
        "notes": notes,
    }
    if settings.protocol.folds > 1:
        config["fold"] = {"index": fold, "of": settings.protocol.folds}
    run_id = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:12]
    run_dir = settings.path("experiments") / settings.dataset.key / model / run_id
    return RunPlan(model, params, config, run_id, run_dir)


def execute(plan: RunPlan, settings: Settings, registry: Registry, prepared, splits, force: bool = False,
            on_epoch: Callable[[dict], None] | None = None) -> dict:
    """Train and evaluate one planned run; resumes from its checkpoint when one is there."""
    import torch

    from zoo.data.cache import bin_stats
    from zoo.evaluator import clip_probabilities, evaluate, predict, write_evaluation
    from zoo.trainer import TrainData, Trainer

    if plan.finished and not force:
        return json.loads((plan.run_dir / "metrics.json").read_text())
    if force and plan.run_dir.exists():
        shutil.rmtree(plan.run_dir)
    plan.run_dir.mkdir(parents=True, exist_ok=True)
    config = {**plan.config, "run_id": plan.run_id, "environment": _environment(settings)}
    write_json(plan.run_dir / "config.json", config)

    classes = splits.classes
    train, val, test = (prepared.split(splits, s) for s in ("train", "val", "test"))
    mean, std = bin_stats(train.x)  # per mel bin, train windows only
    torch.manual_seed(settings.protocol.seed)
    model = _build(registry, plan, len(classes), settings)
    data = TrainData(train.x, train.y, val.x, val.y, len(classes), mean, std)
    trainer = Trainer(settings.protocol, checkpoint=plan.run_dir / "checkpoint.pt", on_epoch=on_epoch)
    start = time.perf_counter()
    history = trainer.fit(model, data)
    seconds = time.perf_counter() - start
    _write_history(plan.run_dir / "history.csv", history)

    window_probs = predict(model, test.x, trainer.device, mean, std)
    ev = evaluate(clip_probabilities(window_probs, test.clip, len(test.paths)), test.clip_y.numpy(), classes, test.paths)
    write_csv(plan.run_dir / "splits.csv", splits.clips[["path", "label", "group", "split"]])
    if prepared.skipped:
        import pandas as pd

        write_csv(plan.run_dir / "skipped.csv", pd.DataFrame(prepared.skipped))
    best = min(history, key=lambda r: r["val_loss"]) if history else {"epoch": 0}
    write_evaluation(plan.run_dir, ev, history, extra={
        "model": plan.model, "run_id": plan.run_id, "dataset": settings.dataset.key, "fold": plan.config.get("fold"),
        "epochs": len(history), "best_epoch": best["epoch"], "train_seconds": round(seconds, 2),
        "device": str(trainer.device), "notes": plan.config["notes"],
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    })
    return json.loads((plan.run_dir / "metrics.json").read_text())


def _build(registry: Registry, plan: RunPlan, num_classes: int, settings: Settings):
    import torch

    spec = registry.model(plan.model)
    try:
        model = spec.build(num_classes, **plan.params)
    except ZooError:
        raise
    except Exception as exc:
        plugin = registry.plugin_of("model", plan.model)
        raise ZooError(f"Model {plan.model!r} (plugin {plugin!r}) failed to build: {type(exc).__name__}: {exc}") from exc
    f = settings.features
    with torch.no_grad():
        model.eval()
        out = model(torch.zeros(2, 1, f.n_mels, f.frames))
    if tuple(out.shape) != (2, num_classes):
        raise ZooError(
            f"Model {plan.model!r} maps (2, 1, {f.n_mels}, {f.frames}) to {tuple(out.shape)}, not (2, {num_classes}) logits: fix its build()."
        )
    return model


def _write_history(path: Path, history: list[dict]) -> None:
    import pandas as pd

    write_csv(path, pd.DataFrame(history))


def _merge(defaults: dict, given: Any, where: str) -> dict:
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        known = ", ".join(defaults) or "none"
        raise ZooError(f"{where}: unknown option {unknown[0]!r}; known: {known}.")
    return {**defaults, **given}


def _environment(settings: Settings) -> dict:
    import torch

    import zoo

    from zoo.trainer import autocast_dtype, pick_device

    device = pick_device(settings.protocol.device)
    versions = {"zoo": zoo.__version__, "python": platform.python_version(), "torch": torch.__version__}
    try:
        import timm

        versions["timm"] = timm.__version__
    except ImportError:
        pass
    dtype = autocast_dtype(device, settings.protocol.amp)
    return {**versions, "device": str(device), "precision": str(dtype or torch.float32).replace("torch.", "")}
