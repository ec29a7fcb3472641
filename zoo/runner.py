"""Plan and execute runs: clip table -> cache -> Trainer -> Evaluator -> run folder."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import platform
import shutil
import traceback
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from zoo.config import Protocol, Settings, features_identity, protocol_identity, settings_dict
from zoo.errors import ZooError
from zoo.io import locked, read_json, sweep_temporaries, write_csv, write_json
from zoo.registry import Registry, load_registry

Waiting = Callable[[str], None]  # told what another zoo process is doing while this one waits for it
RUN_FILES = (
    "config.json",
    "history.csv",
    "metrics.json",
    "report.csv",
    "predictions.csv",
    "misclassified.csv",
    "confusion.png",
    "curves.png",
    "reliability.png",
    "report.md",
    "checkpoint.pt",
    "splits.csv",
    "normalisation.json",
)


# what a finished run of an older zoo (metrics.json without its `files` manifest) must still hold
NEEDED_FILES = ("config.json", "predictions.csv", "checkpoint.pt")


def run_damage(run_dir: Path) -> tuple[str, str] | None:
    """(file, why) when a finished run folder (one with metrics.json) cannot be trusted, else None.
    metrics.json, written last, records the size of every other file of the run (`files`): a file missing or
    of another size (truncated, replaced) damages the run, and so does a metrics.json or config.json that
    does not parse. Cheap: reads two small files and stats the rest."""
    read = {}
    for name in ("metrics.json", "config.json"):
        try:
            read[name] = read_json(run_dir / name)
        except ZooError:
            return name, "does not parse"
        except FileNotFoundError:
            return name, "is missing"
        if not isinstance(read[name], dict):
            return name, "is not a run's"
    from zoo.metrics import METRICS

    metrics = read["metrics.json"]
    needed = ("model", "run_id", *(m.name for m in METRICS))
    if any(k not in metrics for k in needed) or not all(
        isinstance(metrics[m.name], (int, float)) for m in METRICS
    ):
        return "metrics.json", "lacks what a run records (edited?)"
    files = metrics.get("files") or {name: None for name in NEEDED_FILES}
    for name, size in files.items():
        path = run_dir / name
        if not path.is_file():
            return name, "is missing"
        if size is not None and path.stat().st_size != size:
            return name, f"has {path.stat().st_size} bytes, not the {size} it was written with (truncated?)"
    return None


def find_run(run: str | Path, experiments: str | Path) -> Path:
    """The run folder `run` names: a folder, or a run id (or its first characters) under `experiments`."""
    if Path(run).is_dir():
        return Path(run)
    matches = sorted({p.parent for p in Path(experiments).glob(f"*/*/{run}*/config.json")})
    if not matches:
        raise ZooError(f"No run {str(run)!r} under {experiments}: see 'zoo leaderboard' for run ids.")
    if len(matches) > 1:
        raise ZooError(f"Run id {str(run)!r} is ambiguous ({len(matches)} runs): give more characters.")
    return matches[0]


def with_registry(settings: Settings) -> tuple[Settings, Registry]:
    """The registry of these settings' plugins, and the settings with the active data set's recommended
    features under [features] (what every command and every job works with)."""
    registry = load_registry(settings.plugins)
    spec = registry.datasets.get(settings.dataset.name)
    if spec is not None:
        settings = settings.with_recommended_features(spec.features, spec.name)
    return settings, registry


def fit_features(settings: Settings, registry: Registry, progress=None, waiting: Waiting | None = None):
    """The settings with features that fit the active data set: its own recommendation, or, for a data set
    that recommends none (folder, csv...), what inspecting its train split recommends (`zoo inspect`'s
    choice; fold 1's train split when cross-validating); [features] keys over either. The inspection is
    made once per clip table, under the cache's lock, and kept beside the cache (inspected-KEY.json), so
    that every command and job takes the same features."""
    from zoo.data.cache import cache_key, prepare
    from zoo.data.recommend import recommend

    spec = registry.dataset(settings.dataset.name)
    if spec.features:
        return settings
    with locked(settings.path("cache") / "prepare.lock", waiting and (lambda: waiting("preparing the data"))):
        table = load_clip_table(settings, registry)
        folder = settings.path("cache") / "features" / settings.dataset.key
        kept = folder / f"inspected-{cache_key(table, settings.features)}.json"
        try:
            inspected = read_json(kept)["features"]
        except (FileNotFoundError, ZooError, KeyError, TypeError):
            # the clips decoded once with the features in force (defaults, under [features]), split, and
            # the train clips inspected
            prepared = prepare(table, settings.features, folder, progress=progress)
            train = split_data(settings, prepared, 1).clips.query("split == 'train'")
            inspected, figures = recommend(train)
            write_json(kept, {"features": inspected, "figures": figures, "clips": len(train)})
    return settings.with_recommended_features(inspected, spec.name, source="inspected")


def record_failure(plan: RunPlan, folder: Path, error: str, trace: str = "") -> None:
    """failed.json in `folder`: why the planned run failed (one line), the traceback, when; and config.json
    when the run died before writing it, so that the leaderboard lists the failure with its configuration."""
    if not (folder / "config.json").is_file():
        write_json(folder / "config.json", {**plan.config, "run_id": plan.run_id})
    write_json(
        folder / "failed.json",
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


def dataset_root(settings: Settings, registry: Registry) -> Path:
    spec = registry.dataset(settings.dataset.name)
    if settings.data_root is not None:
        return settings.data_root
    if spec.needs_root:
        raise ZooError(
            f"Data set {spec.name!r} needs a data root: pass --data-root PATH "
            "or set root in [dataset] of registry.toml."
        )
    return settings.path("cache") / "datasets" / spec.name


def load_clip_table(settings: Settings, registry: Registry):
    """The active data set's clip table, checked."""
    from zoo.data.clips import check_clip_table

    spec = registry.dataset(settings.dataset.name)
    options = _merge(spec.defaults, settings.dataset.options, f"dataset.options for {spec.name!r}")
    root = dataset_root(settings, registry)
    if spec.needs_root and not root.exists():
        raise ZooError(
            f"Data root {root} does not exist: fix --data-root or [dataset] root in registry.toml."
        )
    plugin = registry.plugin_of("dataset", spec.name)
    try:
        table = spec.load(root, **options)
    except ZooError:
        raise
    except Exception as exc:
        raise ZooError(
            f"Data set {spec.name!r} (plugin {plugin!r}) failed to load {root}: {type(exc).__name__}: {exc}"
        ) from exc
    return check_clip_table(table, f"data set {spec.name!r} at {root}")


def prepare_data(settings: Settings, registry: Registry, progress=None, waiting: Waiting | None = None):
    """Build (or reuse) the feature cache of the active data set, under the cache's lock: concurrent zoo
    processes prepare it once (a generated data set is written once too), the others wait and reuse it."""
    from zoo.data.cache import prepare

    with locked(settings.path("cache") / "prepare.lock", waiting and (lambda: waiting("preparing the data"))):
        table = load_clip_table(settings, registry)
        cache_root = settings.path("cache") / "features" / settings.dataset.key
        return prepare(table, settings.features, cache_root, progress=progress)


def split_data(settings: Settings, prepared, fold: int = 1):
    """The SplitPlan of the prepared clips for `fold` (1 when not cross-validating)."""
    from zoo.data.splits import plan_splits

    return plan_splits(
        prepared.clips, settings.splits, settings.dataset.duplicates, settings.protocol.folds, fold
    )


class RunFailed(ZooError):
    """A run that could not finish (its model failed to build, its loss diverged...). It is recorded in
    failed.json of its folder and never ranked; the other runs go on."""

    def __init__(self, message: str, run_dir: Path):
        super().__init__(message)
        self.run_dir = run_dir


@dataclass
class RunPlan:
    model: str
    params: dict
    config: dict
    run_id: str
    run_dir: Path
    protocol: Protocol  # the sweep's, with this run's seed

    @property
    def finished(self) -> bool:
        return (self.run_dir / "metrics.json").is_file()

    @property
    def staging(self) -> Path:
        """Where a finished run is retrained (--force) until the new one is complete and replaces it."""
        return self.run_dir.with_name(f".{self.run_id}.new")

    @property
    def replaced(self) -> Path:
        """Where the old finished run stands for the moment of the swap."""
        return self.run_dir.with_name(f".{self.run_id}.old")


def model_spec(settings: Settings, registry: Registry, name: str) -> tuple[Any, dict]:
    """The registered model that [models.NAME] builds (its `model` key, for a variant such as
    [models.resnet18] model = "timm", arch = "resnet18"; else NAME itself) and the params it runs with: the
    model's defaults under the table's keys; unknown options are errors. Cheap: call it for every model
    before any work, so that a typo does not wait for a cache to be built."""
    table = dict(settings.models.get(name, {}))
    base = table.pop("model", name)
    if not isinstance(base, str):
        raise ZooError(f"[models.{name}] model = {base!r}: name a registered model (see 'zoo models').")
    spec = registry.model(base)
    return spec, _merge(spec.defaults, table, f"[models.{name}]")


def model_params(settings: Settings, registry: Registry, name: str) -> dict:
    return model_spec(settings, registry, name)[1]


def without_pretrained(params: dict) -> dict:
    """A model's params with `pretrained = false` where it has that option: for building it when its weights
    come from elsewhere (a run's checkpoint) or do not matter (counting parameters)."""
    return {**params, "pretrained": False} if "pretrained" in params else dict(params)


def run_seeds(protocol: Protocol) -> range:
    """The training seeds of a sweep: seed, seed + 1, ... (protocol.seeds of them)."""
    return range(protocol.seed, protocol.seed + protocol.seeds)


def plan_run(
    settings: Settings,
    registry: Registry,
    model: str,
    prepared,
    splits,
    fold: int = 1,
    seed: int | None = None,
) -> RunPlan:
    """Everything that makes the run, and its id: a hash of config.json less its `environment` (versions,
    device, where the data lives), so that the same data and settings elsewhere give the same id. The
    config's protocol holds the run's own seed and not the sweep's number of seeds: adding seeds to a sweep
    leaves the ids of its finished runs as they were."""
    protocol = dataclasses.replace(settings.protocol, seed=settings.protocol.seed if seed is None else seed)
    spec, params = model_spec(settings, registry, model)
    notes: list[str] = []
    if spec.resolve:
        params, notes = spec.resolve(params)
    dataset = {k: v for k, v in settings_dict(settings.dataset).items() if k != "root"}
    config = {
        "model": {
            "name": model,
            **({"builds": spec.name} if spec.name != model else {}),  # a variant: the model it instantiates
            "plugin": registry.plugin_of("model", spec.name),
            "params": params,
        },
        "dataset": {
            **dataset,
            "key": settings.dataset.key,
            "fingerprint": prepared.fingerprint,
            "classes": splits.classes,
        },
        "split": {
            "sizes": {k: int(v) for k, v in splits.clips["split"].value_counts().items()},
            "warnings": splits.warnings,
            "shortcut": splits.shortcut,  # this split's figures: they differ by fold
        },
        "features": {**prepared.meta["features"], "source": settings.features_source},
        "resampling": prepared.resampling(),
        "splits": asdict(settings.splits),
        "protocol": {k: v for k, v in asdict(protocol).items() if k != "seeds"},
        "evaluation": "test clips only; a clip's probabilities are the mean over its windows "
        f"(up to {settings.features.max_windows} per clip)",
        "notes": notes,
    }
    if settings.protocol.folds > 1:
        config["fold"] = {"index": fold, "of": settings.protocol.folds}
    if settings.tuning.trials:  # the procedure and budget (what it chose is added as "tuned")
        config["tuning"] = settings.tuning.identity
    identity = {
        **config,
        "features": features_identity(config["features"]),
        "protocol": protocol_identity(config["protocol"]),
    }
    run_id = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:12]
    run_dir = settings.path("experiments") / settings.dataset.key / model / run_id
    return RunPlan(model, params, config, run_id, run_dir, protocol)


def execute(
    plan: RunPlan,
    settings: Settings,
    registry: Registry,
    prepared,
    splits,
    force: bool = False,
    on_epoch: Callable[[dict], None] | None = None,
    waiting: Waiting | None = None,
    on_start: Callable[[dict], None] | None = None,
    on_trial: Callable[[dict], None] | None = None,
) -> dict:
    """Train and evaluate one planned run under its lock, and return its metrics. An unfinished run resumes
    from its checkpoint; a finished one is returned as it is, or (force) retrained beside it and replaced
    only once the new one is complete; a damaged one (see run_damage) is retrained. `on_start` is told,
    under the lock, what this process found: {"finished": ..., "resuming": ..., "damaged": ...}. A run that
    fails is recorded (failed.json) and raises RunFailed."""
    lock = plan.run_dir.parents[2] / ".locks" / f"{plan.run_id}.lock"  # not beside the run: nothing to list
    with locked(
        lock, waiting and (lambda: waiting(f"run {plan.run_id} is being trained by another zoo process"))
    ):
        _recover(plan)
        damage = run_damage(plan.run_dir) if plan.finished and not force else None
        if damage is not None:
            _retire_damaged(plan.run_dir, damage[0])
        found = {
            "finished": plan.finished and not force,
            "resuming": not force and not plan.finished and (plan.run_dir / "checkpoint.pt").is_file(),
            "damaged": f"{damage[0]} {damage[1]}" if damage else None,
        }
        if on_start:
            on_start(found)
        if found["finished"]:
            return read_json(plan.run_dir / "metrics.json")
        work = plan.staging if plan.finished else plan.run_dir
        if force:  # from scratch; when the run is finished, `work` is beside it, which is replaced below
            shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True, exist_ok=True)
        sweep_temporaries(work)
        (work / "failed.json").unlink(missing_ok=True)
        try:
            _train_and_evaluate(plan, work, settings, registry, prepared, splits, on_epoch, on_trial)
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
        return read_json(plan.run_dir / "metrics.json")


def _retire_damaged(run_dir: Path, damaged_file: str) -> None:
    """Make a damaged finished run an unfinished one: without metrics.json it is retrained, resuming from
    its checkpoint (the finished one: evaluation only) unless the checkpoint is what is damaged."""
    (run_dir / "metrics.json").unlink(missing_ok=True)
    if damaged_file == "checkpoint.pt":
        (run_dir / "checkpoint.pt").unlink(missing_ok=True)


def _recover(plan: RunPlan) -> None:
    """Finish or undo a swap that a killed process left half done (see execute)."""
    if not plan.run_dir.exists():
        if (plan.staging / "metrics.json").is_file():
            plan.staging.rename(plan.run_dir)
        elif plan.replaced.exists():
            plan.replaced.rename(plan.run_dir)
    if plan.replaced.exists() and plan.finished:
        shutil.rmtree(plan.replaced)


def _train_and_evaluate(
    plan: RunPlan,
    work: Path,
    settings: Settings,
    registry: Registry,
    prepared,
    splits,
    on_epoch: Callable[[dict], None] | None,
    on_trial: Callable[[dict], None] | None = None,
) -> None:
    """Train in `work` (resuming from its checkpoint; tuned first when [tuning] trials > 0), evaluate on the
    test split, write the run files."""
    import torch

    from zoo.compute import measure
    from zoo.data.cache import bin_stats, normalise_windows
    from zoo.evaluator import clip_probabilities, evaluate, predict, write_evaluation
    from zoo.trainer import TrainData, Trainer

    config = {**plan.config, "run_id": plan.run_id, "environment": _environment(settings)}
    write_json(work / "config.json", config)
    classes = splits.classes
    train, val, test = (prepared.split(splits, s) for s in ("train", "val", "test"))
    for split in (train, val, test):
        split.x = normalise_windows(split.x, settings.features.normalise)
    mean, std = bin_stats(train.x)  # per mel bin, train windows only
    # what applying the run needs besides its config and weights (zoo.inference)
    write_json(work / "normalisation.json", {"mean": mean.flatten().tolist(), "std": std.flatten().tolist()})
    data = TrainData(train.x, train.y, val.x, val.y, len(classes), mean, std, train.clip, train.start)
    protocol = plan.protocol
    if settings.tuning.trials:  # the study sees `data` (train and validation) only, never `test`
        from zoo.tuning import tune

        def fit(trial_protocol, on_trial_epoch):
            torch.manual_seed(trial_protocol.seed)
            model = _build(registry, plan, len(classes), settings)
            return Trainer(trial_protocol, on_epoch=on_trial_epoch).fit(model, data)

        storage = settings.tuning.storage or f"sqlite:///{(work / 'tuning.db').resolve()}"
        chosen, config["tuned"] = tune(protocol, settings.tuning, fit, plan.run_id, storage, on_trial)
        protocol = dataclasses.replace(protocol, **chosen)
        write_json(work / "config.json", config)
    torch.manual_seed(protocol.seed)
    model = _build(registry, plan, len(classes), settings)
    trainer = Trainer(protocol, checkpoint=work / "checkpoint.pt", on_epoch=on_epoch)
    history = trainer.fit(model, data)
    _write_history(work / "history.csv", history)

    window_probs = predict(model, test.x, trainer.device, mean, std)
    groups = splits.clips.set_index("path").loc[test.paths, "group"].to_numpy()
    probs = clip_probabilities(window_probs, test.clip, len(test.paths))
    ev = evaluate(probs, test.clip_y.numpy(), classes, test.paths, groups)
    write_csv(work / "splits.csv", splits.clips[["path", "label", "group", "split"]])
    if len(splits.duplicates):
        write_csv(work / "duplicates.csv", splits.duplicates)
    if prepared.skipped:
        import pandas as pd

        write_csv(work / "skipped.csv", pd.DataFrame(prepared.skipped))
    best = [r for r in history if r["best"]][-1]  # the epoch restored (zoo.stopping)
    write_evaluation(
        work,
        ev,
        history,
        extra={
            "model": plan.model,
            "run_id": plan.run_id,
            "dataset": settings.dataset.key,
            "fold": plan.config.get("fold"),
            "seed": plan.protocol.seed,
            "sweep": {"folds": plan.protocol.folds, "seeds": plan.protocol.seeds},
            "epochs": len(history),
            "best_epoch": best["epoch"],
            "train_seconds": round(sum(r["seconds"] for r in history), 2),  # every epoch, resumed ones too
            "device": str(trainer.device),
            "compute": measure(model, settings.features.n_mels, settings.features.frames),
            "notes": plan.config["notes"],
            "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        },
    )


def _build(registry: Registry, plan: RunPlan, num_classes: int, settings: Settings):
    import torch

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
    f = settings.features
    with torch.no_grad():
        model.eval()
        out = model(torch.zeros(2, 1, f.n_mels, f.frames))
    if tuple(out.shape) != (2, num_classes):
        raise ZooError(
            f"Model {plan.model!r} maps (2, 1, {f.n_mels}, {f.frames}) to {tuple(out.shape)}, "
            f"not (2, {num_classes}) logits: fix its build()."
        )
    return model


def _write_history(path: Path, history: list[dict]) -> None:
    import pandas as pd

    write_csv(path, pd.DataFrame(history))


def _merge(defaults: dict, given: Any, where: str) -> dict:
    """A model's params or a data set's options: the defaults under the given keys, each of the default's
    kind (an int for an int, a number for a float...), checked before any work."""
    from zoo.config import kind_name, same_kind

    unknown = sorted(set(given) - set(defaults))
    if unknown:
        known = ", ".join(defaults) or "none"
        raise ZooError(f"{where}: unknown option {unknown[0]!r}; known: {known}.")
    for key, value in given.items():
        default = defaults[key]
        # true/false and a word mix in some options (pretrained = true | false | "auto")
        switch = isinstance(default, (bool, str)) and isinstance(value, (bool, str))
        if default is not None and not same_kind(default, value) and not switch:
            raise ZooError(f"{where}: {key} = {value!r} should be {kind_name(default)}, like {default!r}.")
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
    return {
        **versions,
        "device": str(device),
        "precision": str(dtype or torch.float32).replace("torch.", ""),
        "data_root": str(settings.data_root or ""),
    }
