"""From the command line's common options to settings and registry: --registry, --dataset, --set..."""

from __future__ import annotations

from pathlib import Path

from zoo.errors import ZooError
from zoo.settings import find_registry, load_settings, parse_value, settings_from_dict, with_overrides


def overrides(args) -> dict:
    """The command line's settings: --set KEY=VALUE and the shortcuts (--dataset, --epochs, ...)."""
    # --dataset starts [dataset] afresh: root, id and options in the file belong to the file's data set
    given = {"dataset": {}} if args.dataset else {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ZooError(f"--set {item!r}: use KEY=VALUE, e.g. --set protocol.epochs=10.")
        given[key.strip()] = parse_value(value.strip())
    for key, value in (
        ("dataset.name", args.dataset),
        ("dataset.root", args.data_root),
        ("dataset.id", args.dataset_id),
        ("protocol.epochs", args.epochs),
        ("protocol.seeds", args.seeds),
    ):
        if value is not None:
            given[key] = value
    if args.data_root is not None:  # relative to where the user typed it, not to registry.toml
        given["dataset.root"] = str(Path(args.data_root).resolve())
    return given


def settings_of(args, needs_registry: bool = True):
    """The settings of registry.toml (found from here up) under the command line's; without a registry.toml,
    the built-in defaults for a command that only lists (needs_registry False), else a one-line error."""
    given = overrides(args)
    try:
        registry_file = args.registry or find_registry()
    except ZooError:
        # work would be done with settings nobody chose, and files written where nobody looks
        if needs_registry:
            raise
        return settings_from_dict(with_overrides({}, given), Path.cwd())  # listing only: the defaults
    return load_settings(registry_file, given)


def load(args, needs_registry: bool = True):
    """Settings and registry; the features are the active data set's recommendation under [features]."""
    from zoo.project import with_registry

    return with_registry(settings_of(args, needs_registry))


def source_of(args):
    """The sweep's zoo.sweep.Source: registry.toml and the command line's overrides."""
    from zoo.sweep import Source

    return Source.from_registry(args.registry or find_registry(), overrides(args))
