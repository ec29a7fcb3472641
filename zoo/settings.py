"""Read registry.toml (plus command-line overrides) into `Settings`; unknown keys are errors."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from zoo.config import (
    DatasetConfig,
    FeatureConfig,
    Paths,
    Protocol,
    SplitConfig,
    TuningConfig,
)
from zoo.errors import ZooError
from zoo.fields import build_section, hint

REGISTRY_FILE = "registry.toml"
# a name that becomes a folder (a data set's id, a model variant's name): one path component, no way out
FOLDER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,99}")


@dataclass(frozen=True)
class Settings:
    """Everything registry.toml says, after overrides. Paths are absolute."""

    root: Path  # the folder holding registry.toml
    dataset: DatasetConfig
    features: FeatureConfig
    splits: SplitConfig
    protocol: Protocol
    tuning: TuningConfig
    models: Mapping[str, Mapping[str, Any]]  # model name -> params, in file order (`zoo run --all`)
    plugins: tuple[str, ...]  # local plugin modules (absolute paths)
    paths: Paths
    # the [features] keys registry.toml and --set give: they override the data set's recommendation
    feature_overrides: Mapping[str, Any] = field(default_factory=dict)
    # where `features` came from, below those keys: "dataset" (its recommendation) or "inspected" (what
    # inspecting the train split recommends, for a data set that recommends none); "registry" when
    # [features] or --set give keys over it; "" before the data set is known
    features_source: str = ""

    def path(self, which: str) -> Path:
        return self.root / getattr(self.paths, which)

    def with_recommended_features(
        self, recommended: Mapping[str, Any], dataset: str, source: str = "dataset"
    ) -> "Settings":
        """These settings with `features` = the defaults, then the `recommended` features (the data set's,
        or `source` "inspected": from its train split), then [features] of registry.toml and --set (each key
        checked as in registry.toml)."""
        unknown = sorted(set(recommended) - {f.name for f in fields(FeatureConfig)})
        if unknown:
            raise ZooError(f"data set {dataset!r} recommends an unknown feature setting {unknown[0]!r}.")
        values = {**recommended, **self.feature_overrides}
        where = f"[features] (data set {dataset!r}'s recommendation, then registry.toml and --set)"
        source = "registry" if self.feature_overrides else source
        return dataclasses.replace(
            self, features=build_section(FeatureConfig, values, where), features_source=source
        )

    @property
    def data_root(self) -> Path | None:
        return (self.root / self.dataset.root) if self.dataset.root else None


SECTIONS = {
    "dataset": DatasetConfig,
    "features": FeatureConfig,
    "splits": SplitConfig,
    "protocol": Protocol,
    "tuning": TuningConfig,
    "paths": Paths,
}


def find_registry(start: Path | None = None) -> Path:
    """registry.toml in `start` (default: the working directory) or its nearest parent."""
    start = (start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / REGISTRY_FILE).is_file():
            return folder / REGISTRY_FILE
    raise ZooError(
        f"No {REGISTRY_FILE} in {start} or its parents: run zoo from the project folder, pass "
        f"--registry FILE, or write one here with `zoo init`."
    )


def load_settings(registry_file: Path, overrides: Mapping[str, Any] = ()) -> Settings:
    """Read registry.toml and apply dotted-key overrides, e.g. {"protocol.epochs": 5}."""
    try:
        raw = tomllib.loads(registry_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ZooError(
            f"{registry_file}: no such file; pass --registry FILE or create one (see README)."
        ) from None
    except UnicodeDecodeError as exc:
        raise ZooError(
            f"{registry_file}: not UTF-8 text (byte {exc.start}); save it as UTF-8 (TOML must be)."
        ) from None
    except OSError as exc:
        raise ZooError(f"{registry_file}: cannot be read ({exc.strerror}); fix its permissions.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ZooError(f"{registry_file}: not valid TOML ({exc}); fix that line.") from None
    return settings_from_dict(
        with_overrides(raw, overrides), registry_file.resolve().parent, str(registry_file)
    )


def render_registry(models: Mapping[str, Mapping[str, Any]]) -> str:
    """A registry.toml holding every setting at its built-in default (the features commented out: the data
    set's recommendation is in force), and a [models.NAME] table for each of `models` (NAME -> its keys)."""
    lines = [
        "# audio-zoo registry, written by `zoo init` with the built-in defaults: edit freely.",
        "# Every key can be overridden on the command line: `zoo run --all --set protocol.lr=3e-4`.",
    ]
    for section, cls in SECTIONS.items():
        lines += ["", f"[{section}]"]
        # [features] keys override the data set's recommendation: written as comments, not in force
        comment = "# " if cls is FeatureConfig else ""
        if comment:
            lines.append(
                "# each data set recommends its features (`zoo inspect`); a key set here overrides it"
            )
        defaults = [f for f in fields(cls) if f.default is not dataclasses.MISSING]
        lines += [f"{comment}{f.name} = {_toml(f.default)}" for f in defaults]
        for f in fields(cls):  # tables (e.g. [tuning.space]) that hold something by default
            table = f.default_factory() if f.default_factory is not dataclasses.MISSING else None
            if table:
                lines += ["", f"[{section}.{f.name}]", *(f"{k} = {_toml(v)}" for k, v in table.items())]
    for name, table in models.items():
        lines += ["", f"[models.{name}]", *(f"{key} = {_toml(value)}" for key, value in table.items())]
    lines += ["", "[plugins]", "modules = []"]
    return "\n".join(lines) + "\n"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(map(_toml, value)) + "]"
    return repr(value)


def with_overrides(raw: dict, overrides: Mapping[str, Any]) -> dict:
    """A copy of `raw` with dotted-key overrides applied in order, e.g. {"protocol.epochs": 5}."""
    raw = copy.deepcopy(raw)
    for key, value in dict(overrides).items():
        _set_dotted(raw, key, value)
    return raw


def settings_from_dict(raw: dict, root: Path, where: str = REGISTRY_FILE) -> Settings:
    known = set(SECTIONS) | {"models", "plugins"}
    for key in raw:
        if key not in known:
            raise ZooError(
                f"{where}: unknown section [{key}]{hint(key, known)}; known: {', '.join(sorted(known))}."
            )
    built = {
        name: build_section(cls, raw.get(name, {}), f"{where} [{name}]") for name, cls in SECTIONS.items()
    }
    models = raw.get("models", {})
    if not isinstance(models, dict) or any(not isinstance(v, dict) for v in models.values()):
        raise ZooError(f"{where}: [models] must hold one table per model, e.g. [models.baseline_cnn].")
    plugins = raw.get("plugins", {})
    unknown = set(plugins) - {"modules"}
    if unknown:
        raise ZooError(
            f"{where}: unknown key plugins.{sorted(unknown)[0]}; [plugins] takes only modules = [...]."
        )
    check_folder_name(
        built["dataset"].key, f"{where} [dataset] {'id (or --dataset-id)' if built['dataset'].id else 'name'}"
    )
    for name in models:
        check_folder_name(name, f"{where} [models.{name}]")
        if name == "best":  # `zoo predict best` means the leader
            raise ZooError(f"{where} [models.best]: 'best' names the leader in zoo predict; rename it.")
    modules = plugins.get("modules", [])
    if not isinstance(modules, list) or not all(isinstance(m, str) for m in modules):
        raise ZooError(f"{where}: plugins.modules must be a list of file paths.")
    return Settings(
        root=root,
        models=models,
        plugins=tuple(str(root / m) for m in modules),
        feature_overrides=dict(raw.get("features", {})),
        **built,
    )


def check_folder_name(name: str, where: str) -> None:
    """A name that becomes a folder under experiments/, cache/ or leaderboard/ must stay one folder there:
    refused in one line, before any work, when it could name another place ('../x', '/abs', 'a/b')."""
    if not FOLDER_NAME.fullmatch(name):
        raise ZooError(
            f"{where}: {name!r} cannot be a folder name under experiments/ and cache/; use letters, digits "
            "and _ . + - (starting with a letter or digit, at most 100), e.g. 'my_data'."
        )


def _set_dotted(raw: dict, key: str, value: Any) -> None:
    parts = key.split(".")
    node = raw
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ZooError(f"--set {key}: {part!r} is not a table.")
    node[parts[-1]] = value


def parse_value(text: str) -> Any:
    """A --set value: a TOML literal (5, 0.1, true, "x", [1, 2]) or else a plain string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text
