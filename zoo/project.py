"""What every command and every job works with, built once per process: the settings, the registry of
plugins, the active data set's clip table, the features that fit it, the prepared cache and each fold's
splits (the path of the data up to the Trainer)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from zoo.errors import ZooError
from zoo.io import locked, read_json, write_json
from zoo.registry import Registry, load_registry
from zoo.settings import Settings
from zoo.specs import merge_options

Waiting = Callable[[str], None]  # told what another zoo process is doing while this one waits for it
Progress = Callable[[int, int, int], None]  # (clips done, clips in all, clips skipped)


def with_registry(settings: Settings) -> tuple[Settings, Registry]:
    """The registry of these settings' plugins, and the settings with the active data set's recommended
    features under [features]."""
    registry = load_registry(settings.plugins)
    spec = registry.datasets.get(settings.dataset.name)
    if spec is not None:
        settings = settings.with_recommended_features(spec.features, spec.name)
    return settings, registry


class Project:
    """The settings and registry, and what they lead to, each built once and kept: `clip_table()`,
    `fit_features()` (the settings' features made to fit the data), `prepared()` (the feature cache),
    `splits(fold)`. Example::

        project = Project(load_settings("registry.toml"))
        train = project.splits(1).clips.query("split == 'train'")
    """

    def __init__(self, settings: Settings, registry: Registry | None = None):
        if registry is None:
            settings, registry = with_registry(settings)
        self.settings, self.registry = settings, registry
        self._table = self._prepared = None
        self._fitted = False
        self._splits: dict[int, object] = {}

    def _lock(self, waiting: Waiting | None):
        """The data set's preparation lock: concurrent zoo processes prepare it once, the others wait."""
        say = waiting and (lambda: waiting("preparing the data"))
        return locked(self.settings.path("cache") / "prepare.lock", say)

    def clip_table(self):
        """The active data set's clip table, checked."""
        if self._table is None:
            self._table = load_clip_table(self.settings, self.registry)
        return self._table

    def fit_features(self, progress: Progress | None = None, waiting: Waiting | None = None) -> Settings:
        """The settings with features that fit the active data set: its own recommendation, or, for a data
        set that recommends none (folder, csv...), what inspecting its train split recommends (`zoo
        inspect`'s choice; fold 1's train split when cross-validating); [features] keys over either. The
        inspection is made once per clip table, under the cache's lock, and kept beside the cache
        (inspected-KEY.json), so that every command and job takes the same features."""
        spec = self.registry.dataset(self.settings.dataset.name)
        if self._fitted or spec.features:
            self._fitted = True
            return self.settings
        from zoo.data.cache import cache_key, prepare
        from zoo.data.recommend import recommend

        with self._lock(waiting):
            table = self.clip_table()
            folder = self.settings.path("cache") / "features" / self.settings.dataset.key
            kept = folder / f"inspected-{cache_key(table, self.settings.features)}.json"
            try:
                inspected = read_json(kept)["features"]
            except (FileNotFoundError, ZooError, KeyError, TypeError):
                # the clips decoded once with the features in force (defaults, under [features]), split, and
                # the train clips inspected
                prepared = prepare(table, self.settings.features, folder, progress=progress)
                train = split_data(self.settings, prepared, 1).clips.query("split == 'train'")
                inspected, figures = recommend(train)
                write_json(kept, {"features": inspected, "figures": figures, "clips": len(train)})
        self.settings = self.settings.with_recommended_features(inspected, spec.name, source="inspected")
        self._fitted = True
        return self.settings

    def prepared(self, progress: Progress | None = None, waiting: Waiting | None = None):
        """The feature cache of the active data set at the fitted features, built (or reused) under the
        cache's lock: a generated data set is written once too."""
        if self._prepared is None:
            from zoo.data.cache import prepare

            self.fit_features(progress, waiting)
            with self._lock(waiting):
                cache_root = self.settings.path("cache") / "features" / self.settings.dataset.key
                self._prepared = prepare(
                    self.clip_table(), self.settings.features, cache_root, progress=progress
                )
        return self._prepared

    def splits(self, fold: int = 1):
        """The SplitPlan of the prepared clips for `fold` (1 when not cross-validating)."""
        if fold not in self._splits:
            self._splits[fold] = split_data(self.settings, self.prepared(), fold)
        return self._splits[fold]


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
    options = merge_options(spec.defaults, settings.dataset.options, f"dataset.options for {spec.name!r}")
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


def split_data(settings: Settings, prepared, fold: int = 1):
    """The SplitPlan of prepared clips for `fold` under these settings."""
    from zoo.data.splits import plan_splits

    return plan_splits(
        prepared.clips, settings.splits, settings.dataset.duplicates, settings.protocol.folds, fold
    )
