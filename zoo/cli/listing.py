"""The listing commands: init, new-plugin, models, datasets, plugins. They import no torch (models does, to
count parameters)."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from rich.table import Column, Table

from zoo.cli.args import load
from zoo.cli.draw import console, number, warn_broken
from zoo.errors import ZooError


def cmd_init(args) -> None:
    from zoo.io import write_text
    from zoo.settings import REGISTRY_FILE, render_registry

    target = Path(args.registry or REGISTRY_FILE)
    if target.exists():
        raise ZooError(f"{target} already exists: edit it, or remove it first to start afresh.")
    _, registry = load(args, needs_registry=False)
    tables = {}
    for name, spec in sorted(registry.models.items()):
        arch = spec.defaults.get("arch")  # a family (e.g. timm): one variant, named after its default arch
        tables.update({arch: {"model": name, "arch": arch}} if isinstance(arch, str) else {name: {}})
    write_text(target, render_registry(tables))
    console.print(
        f"written: {target} (the built-in defaults; edit it, then `zoo run --all`)", highlight=False
    )


def cmd_new_plugin(args) -> None:
    from zoo.scaffold import new_plugin

    folder = new_plugin(args.name, Path.cwd())
    console.print(
        f"written: {folder}/ (pyproject.toml, zoo_{args.name}.py, test_zoo_{args.name}.py, README.md)\n"
        f"next: pip install -e {args.name} && zoo run {args.name}",
        highlight=False,
        markup=False,
    )


def cmd_models(args) -> None:
    """The registered models and the variants registry.toml defines, with their parameter counts (built
    at 10 classes, random init), where pretrained weights come from, and the plugin; PATTERN filters."""
    import fnmatch

    from zoo.runs.plan import model_spec

    settings, registry = load(args, needs_registry=False)
    rows = [(name, spec, spec.defaults, spec.summary) for name, spec in registry.models.items()]
    for name, table in settings.models.items():
        if "model" in table or name not in registry.models:
            spec, params = model_spec(settings, registry, name)
            given = ", ".join(f"{k}={v!r}" for k, v in table.items() if k != "model")
            rows.append((name, spec, params, f"variant of {spec.name}" + (f": {given}" if given else "")))
    pattern = (args.pattern or "*").lower()
    rows = sorted(r for r in rows if fnmatch.fnmatch(r[0].lower(), pattern))
    if not rows:
        raise ZooError(f"No model matches {args.pattern!r}: see 'zoo models'.")
    table = Table(
        Column("model", no_wrap=True),
        Column("plugin", no_wrap=True),
        number("params M"),
        Column("weights", no_wrap=True),
        Column("what it is"),
        title="Models (and registry.toml's variants)",
    )
    for name, spec, params, summary in rows:
        table.add_row(
            name,
            registry.plugin_of("model", spec.name),
            _parameters(spec, params),
            spec.weights.split(":")[0] if spec.weights else ("yes" if spec.pretrained else "-"),
            summary,
        )
    console.print(table)
    if len(rows) == 1:  # one model: all there is to know
        name, spec, params, _ = rows[0]
        console.print(
            f"{name}: {', '.join(f'{k}={v!r}' for k, v in params.items()) or 'no params'}", markup=False
        )
        if spec.weights:
            console.print(f"pretrained weights: {spec.weights}", markup=False)
    warn_broken(registry)


def _parameters(spec, params: dict) -> str:
    """Millions of parameters of the model at 10 classes, built without pretrained weights."""
    import torch

    from zoo.runs.plan import without_pretrained

    try:
        with torch.device("meta"):
            model = spec.build(10, **without_pretrained(params))
        return f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f}"
    except Exception as exc:
        return f"? ({type(exc).__name__})"


def cmd_datasets(args) -> None:
    _list_specs(args, "dataset")


def _list_specs(args, kind: str) -> None:
    _, registry = load(args, needs_registry=False)
    specs = registry.models if kind == "model" else registry.datasets
    flag = "pretrained" if kind == "model" else "needs_root"
    table = Table(
        Column(kind, no_wrap=True),
        "plugin",
        flag.replace("_", " "),
        "defaults",
        "summary",
        title=f"Registered {kind}s",
    )
    for name in sorted(specs):
        spec = specs[name]
        defaults = ", ".join(f"{k}={v!r}" for k, v in spec.defaults.items())
        table.add_row(
            name,
            registry.plugin_of(kind, name),
            "yes" if getattr(spec, flag) else "no",
            defaults,
            spec.summary,
        )
    console.print(table)
    warn_broken(registry)


def cmd_plugins(args) -> None:
    _, registry = load(args, needs_registry=False)
    table = Table("plugin", "source", "hooks", "registers", "status", title="Plugins")
    for p in registry.plugins:
        registers = "; ".join(f"{kind}s: {', '.join(names)}" for kind, names in p.registered.items())
        status = f"[red]skipped: {escape(p.error)}[/]" if p.error else "[green]ok[/]"
        table.add_row(p.name, p.source, ", ".join(p.hooks), registers, status)
    console.print(table)
