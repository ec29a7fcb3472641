"""Discover plugins (the built-in ones, entry points and local modules) and collect what they register:
models, data sets, executors and outputs."""

from __future__ import annotations

import difflib
import importlib.metadata
import importlib.util
import inspect
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pluggy

from zoo import hookspecs
from zoo.errors import ZooError
from zoo.specs import DatasetSpec, ExecutorSpec, ModelSpec, OutputSpec

ENTRY_POINT_GROUP = "audio_zoo"
# kind -> (its hook, the spec it registers, the Registry table it fills)
KINDS = {
    "model": ("register_models", ModelSpec, "models"),
    "dataset": ("register_datasets", DatasetSpec, "datasets"),
    "executor": ("register_executors", ExecutorSpec, "executors"),
    "output": ("register_outputs", OutputSpec, "outputs"),
}
HOOK_NAMES = tuple(hook for hook, _, _ in KINDS.values())
# the zoo's own executors and outputs, registered through the same hooks as anyone's (as pytest's and
# datasette's default plugins)
DEFAULT_PLUGINS = (
    "zoo.executors.local",
    "zoo.outputs.run_report",
    "zoo.outputs.run_plots",
    "zoo.outputs.board_tables",
    "zoo.outputs.board_views",
)


@dataclass
class PluginInfo:
    """One plugin as `zoo plugins` shows it."""

    name: str
    source: str  # "audio-zoo 0.1.0 (entry point)" or "local: path/to/module.py"
    hooks: list[str] = field(default_factory=list)
    registered: dict[str, list[str]] = field(default_factory=dict)  # kind -> names
    error: str | None = None  # why it was skipped, in one line

    @property
    def names(self) -> list[str]:
        return [name for names in self.registered.values() for name in names]


@dataclass
class Registry:
    """The models, data sets, executors and outputs registered by every plugin that loaded."""

    models: dict[str, ModelSpec] = field(default_factory=dict)
    datasets: dict[str, DatasetSpec] = field(default_factory=dict)
    executors: dict[str, ExecutorSpec] = field(default_factory=dict)
    outputs: dict[str, OutputSpec] = field(default_factory=dict)
    plugins: list[PluginInfo] = field(default_factory=list)
    origin: dict[tuple[str, str], str] = field(default_factory=dict)  # (kind, name) -> plugin

    def model(self, name: str) -> ModelSpec:
        return self._get("model", self.models, name, "zoo models")

    def dataset(self, name: str) -> DatasetSpec:
        return self._get("dataset", self.datasets, name, "zoo datasets")

    def executor(self, name: str) -> ExecutorSpec:
        return self._get("executor", self.executors, name, "zoo plugins")

    def plugin_of(self, kind: str, name: str) -> str:
        return self.origin[(kind, name)]

    def _get(self, kind: str, table: dict, name: str, command: str) -> Any:
        if name in table:
            return table[name]
        close = difflib.get_close_matches(name, list(table), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ZooError(f"Unknown {kind} {name!r}.{hint} See '{command}'.")


def load_registry(
    local_modules: Iterable[str | Path] = (), entry_points: Iterable[Any] | None = None
) -> Registry:
    """Load every plugin into a fresh plugin manager and collect what each registers: the built-in ones
    (DEFAULT_PLUGINS), the entry points of group `audio_zoo` (or `entry_points`), and `local_modules`.

    A plugin that fails to import, misspells a hook or registers a bad spec is recorded in
    ``registry.plugins`` with the reason and skipped; two plugins claiming one name is a ZooError.
    """
    if entry_points is None:
        entry_points = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
    pm.add_hookspecs(hookspecs)
    registry = Registry()
    candidates = [(name, "audio-zoo (built in)", _importer(name)) for name in DEFAULT_PLUGINS]
    candidates += [(ep.name, _entry_point_source(ep), ep.load) for ep in entry_points]
    candidates += [(Path(p).stem, f"local: {p}", _module_loader(Path(p))) for p in local_modules]
    for name, source, load in sorted(candidates, key=lambda c: c[0]):
        info = PluginInfo(name=name, source=source)
        registry.plugins.append(info)
        try:
            module = load()
            info.hooks = _hooks_of(module)
            if pm.get_plugin(name) is not None:
                raise ValueError(f"another plugin is already registered as {name!r}")
            pm.register(module, name=name)
        except Exception as exc:  # a broken plugin must not take the others down
            info.error = _one_line(exc)
    pm.check_pending()  # unknown hooks were already refused per plugin in _hooks_of
    for kind in KINDS:
        _collect(pm, registry, kind)
    return registry


def _collect(pm: pluggy.PluginManager, registry: Registry, kind: str) -> None:
    """What each plugin's hook of `kind` registers, checked; all of a plugin's specs or none of them."""
    hook_name, expected, table_name = KINDS[kind]
    table = getattr(registry, table_name)
    for impl in sorted(getattr(pm.hook, hook_name).get_hookimpls(), key=lambda i: i.plugin_name):
        info = next(p for p in registry.plugins if p.name == impl.plugin_name)
        if info.error:
            continue
        collected: list = []
        try:
            impl.function(register=collected.append)
            for spec in collected:
                if not isinstance(spec, expected):
                    raise ValueError(f"{hook_name} registered {type(spec).__name__}, not {expected.__name__}")
                spec.validate()
        except Exception as exc:
            info.error = f"{hook_name}: {_one_line(exc)}"
            _forget(registry, info)
            continue
        for spec in collected:
            owner = registry.origin.get((kind, spec.name))
            if owner is not None:
                raise ZooError(
                    f"{kind} {spec.name!r} is registered by two plugins, {owner!r} and {info.name!r}: "
                    f"uninstall or rename one of them."
                )
            table[spec.name] = spec
            registry.origin[(kind, spec.name)] = info.name
            info.registered.setdefault(kind, []).append(spec.name)


def _forget(registry: Registry, info: PluginInfo) -> None:
    """Drop what a plugin registered before one of its hooks failed: all of it or none."""
    for kind, names in info.registered.items():
        table = getattr(registry, KINDS[kind][2])
        for name in names:
            table.pop(name, None)
            registry.origin.pop((kind, name), None)
    info.registered.clear()


def _importer(name: str):
    return lambda: importlib.import_module(name)


def _hooks_of(module: Any) -> list[str]:
    """The hook implementations a module defines; a misspelled one is an error, not a silent no-op."""
    hooks = []
    for attr, value in inspect.getmembers(module):
        if getattr(value, "audio_zoo_impl", None) is None:
            continue
        if attr not in HOOK_NAMES:
            close = difflib.get_close_matches(attr, HOOK_NAMES, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"unknown hook {attr!r}{hint}")
        hooks.append(attr)
    if not hooks:
        raise ValueError(f"no @zoo.hookimpl functions; expected one of {', '.join(HOOK_NAMES)}")
    return hooks


def _entry_point_source(ep: Any) -> str:
    dist = getattr(ep, "dist", None)
    if dist is not None:
        return f"{dist.name} {dist.version} (entry point)"
    return f"{ep.value} (entry point)"


def _module_loader(path: Path):
    def load():
        if not path.is_file():
            raise FileNotFoundError(f"no such file {path}: fix [plugins] modules in registry.toml")
        module_name = f"zoo_local_{path.stem}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(module_name, None)
            raise
        return module

    return load


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or "(no message)"
    return f"{type(exc).__name__}: {text}"
