"""Plan a run: which model it builds with which params, everything that makes it (config.json), its id and
its folder. Cheap and free of torch, so that every run of a sweep is planned before any work."""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from zoo.config import Protocol, digest, features_identity, protocol_identity, settings_dict
from zoo.errors import ZooError
from zoo.registry import Registry
from zoo.runs.folder import METRICS
from zoo.settings import Settings
from zoo.specs import merge_options

# config.json keys that are not part of the run id: where it ran, and facts that follow from the rest
UNHASHED = ("environment", "weights")


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
        return (self.run_dir / METRICS).is_file()

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
    return spec, merge_options(spec.defaults, table, f"[models.{name}]")


def model_params(settings: Settings, registry: Registry, name: str) -> dict:
    return model_spec(settings, registry, name)[1]


def without_pretrained(params: dict) -> dict:
    """A model's params with `pretrained = false` where it has that option: for building it when its weights
    come from elsewhere (a run's checkpoint) or do not matter (counting parameters)."""
    return {**params, "pretrained": False} if "pretrained" in params else dict(params)


def run_seeds(protocol: Protocol) -> range:
    """The training seeds of a sweep: seed, seed + 1, ... (protocol.seeds of them)."""
    return range(protocol.seed, protocol.seed + protocol.seeds)


def weights_record(spec, requested: dict, resolved: dict) -> dict:
    """How the model starts, as data for the leaderboard: the weights it was given (what they were trained on,
    from its spec) or random initialisation, and whether `pretrained = "auto"` fell back to it (asked for
    "auto", resolved to no weights)."""
    if "pretrained" not in resolved:
        return {"start": "random", "pretrained_on": ""}
    used = resolved["pretrained"] is True
    return {
        "start": "pretrained" if used else "random",
        "pretrained_on": spec.pretrained_on,
        "fell_back": not used and requested.get("pretrained") == "auto",
    }


def plan_run(project, model: str, fold: int = 1, seed: int | None = None) -> RunPlan:
    """Everything that makes the run, and its id: a hash of config.json less UNHASHED (versions, device,
    where the data lives), so that the same data and settings elsewhere give the same id. The config's
    protocol holds the run's own seed and not the sweep's number of seeds: adding seeds to a sweep leaves
    the ids of its finished runs as they were. `project`: a zoo.project.Project."""
    settings, registry = project.settings, project.registry
    prepared, splits = project.prepared(), project.splits(fold)
    protocol = dataclasses.replace(settings.protocol, seed=settings.protocol.seed if seed is None else seed)
    spec, requested = model_spec(settings, registry, model)
    params, notes = spec.resolve(requested) if spec.resolve else (requested, [])
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
        "weights": weights_record(spec, requested, params),
    }
    if "labels" in splits.clips.columns:  # several labels per clip (absent: one, as every run before)
        config["task"] = "multilabel"
        config["evaluation"] = (
            "test clips only; a clip's probabilities are the maximum over its windows (up to "
            f"{settings.features.max_windows} per clip); per-class thresholds chosen on the validation split"
        )
    if settings.protocol.folds > 1:
        config["fold"] = {"index": fold, "of": settings.protocol.folds}
    if settings.tuning.trials:  # the procedure and budget (what it chose is added as "tuned")
        config["tuning"] = settings.tuning.identity
    run_id = run_id_of(config)
    run_dir = settings.path("experiments") / settings.dataset.key / model / run_id
    return RunPlan(model, params, config, run_id, run_dir, protocol)


def run_id_of(config: dict) -> str:
    identity = {k: v for k, v in config.items() if k not in UNHASHED}
    identity |= {
        "features": features_identity(config["features"]),
        "protocol": protocol_identity(config["protocol"]),
    }
    return digest(identity)
