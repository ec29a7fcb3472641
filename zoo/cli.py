"""The `zoo` command: parse arguments, call the core, print rich tables. It does not train itself."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import warnings
from datetime import datetime, timezone
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from zoo.config import find_registry, load_settings, parse_value, settings_from_dict, with_overrides
from zoo.errors import ZooError, ZooWarning

console = Console(soft_wrap=True)  # long paths and messages stay on one line (grep-able)
err_console = Console(stderr=True, soft_wrap=True)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the process is, so that what is running cleans up as for Ctrl-C."""


def _on_sigterm(signum, frame):
    raise Terminated()


def _warn(text: str, where: str = "") -> None:
    """One warning line on stderr: `warning: text`, or `warning (where): text`."""
    label = f"warning ({where}):" if where else "warning:"
    err_console.print(f"[yellow]{label}[/] {escape(text)}", highlight=False, soft_wrap=True)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """Every warning in one line: the zoo's as they are, other libraries' with the library that gave it
    (not Python's two lines with the source line of a file the user never opened)."""
    if issubclass(category, ZooWarning):
        _warn(str(message))
    else:
        parts = Path(filename).parts
        library = parts[parts.index("site-packages") + 1] if "site-packages" in parts else Path(filename).stem
        _warn(" ".join(str(message).split()), f"{library}, {category.__name__}")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    with warnings.catch_warnings():
        warnings.simplefilter("always", ZooWarning)
        warnings.showwarning = _show_warning
        try:
            return args.func(args) or 0
        except ZooError as exc:
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            return 2
        except OSError as exc:  # a path the checks before the work could not foresee (/proc/x...)
            if exc.filename is None:
                raise
            err_console.print(
                f"[bold red]error:[/] {escape(str(exc.filename))}: {escape(exc.strerror or str(exc))}: "
                "choose another path, or fix its permissions.",
                highlight=False,
                soft_wrap=True,
            )
            return 2
        except KeyboardInterrupt as exc:
            err_console.print(
                "interrupted: a started run resumes from its last checkpoint when you run it again."
            )
            return 143 if isinstance(exc, Terminated) else 130
        finally:
            signal.signal(signal.SIGTERM, previous)


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--registry", type=Path, help="registry.toml to use (default: ./registry.toml or a parent's)"
    )
    common.add_argument("--dataset", help="data set to use (overrides [dataset] name)")
    common.add_argument("--data-root", help="data root: a folder, or an annotations CSV for 'csv'")
    common.add_argument(
        "--dataset-id", help="name of its experiments/ and leaderboard/ entries (default: the data set name)"
    )
    common.add_argument("--epochs", type=int, help="maximum epochs (overrides protocol.epochs)")
    common.add_argument(
        "--seeds", type=int, help="train each model with this many seeds (overrides protocol.seeds)"
    )
    common.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any registry.toml setting, e.g. --set protocol.lr=3e-4 (repeatable)",
    )
    parser = argparse.ArgumentParser(
        prog="zoo", description="audio-zoo: one protocol, one test set, one leaderboard."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, func, text in (
        (
            "init",
            cmd_init,
            "write a registry.toml with the built-in defaults and every registered model here",
        ),
        ("datasets", cmd_datasets, "list the registered data sets"),
        ("plugins", cmd_plugins, "list the plugins, where they came from, and any that failed to load"),
        ("prepare", cmd_prepare, "build the feature cache of the active data set"),
        (
            "inspect",
            cmd_inspect,
            "per class: clips, duration, groups, sample rates, skipped and duplicate files, split sizes",
        ),
        (
            "leaderboard",
            cmd_leaderboard,
            "rebuild leaderboard/*.md from the run folders and print the active one",
        ),
    ):
        sub.add_parser(name, parents=[common], help=text, description=text).set_defaults(func=func)
    models = sub.add_parser(
        "models",
        parents=[common],
        help="list the models (and registry.toml's variants): parameters, weights, plugin",
        description="List the registered models and registry.toml's variants: parameter counts, where "
        "pretrained weights come from, and the plugin each came from.",
    )
    models.add_argument("pattern", nargs="?", help="only names matching this wildcard, e.g. 'cnn*'")
    models.set_defaults(func=cmd_models)
    run = sub.add_parser(
        "run",
        parents=[common],
        help="train and evaluate models, then refresh the leaderboard",
        description="Train and evaluate models under the one protocol, then refresh the leaderboard.",
    )
    run.add_argument("models", nargs="*", help="model names (see 'zoo models')")
    run.add_argument("--all", action="store_true", help="every model listed in [models] of registry.toml")
    run.add_argument(
        "--force", action="store_true", help="retrain even when a finished run has the same run id"
    )
    run.add_argument(
        "--jobs", type=int, default=1, help="runs at once, in that many worker processes (default 1: here)"
    )
    run.add_argument(
        "--executor",
        choices=("local", "ray"),
        default="local",
        help="where jobs run: local (this machine) or ray (a Ray cluster: pip install 'audio-zoo[ray]')",
    )
    run.add_argument(
        "--address", help="the Ray cluster to use: auto, ray://HOST:10001 (default: start one here)"
    )
    run.add_argument(
        "--gpus-per-job",
        type=float,
        help="the share of a GPU each job gets (0.25: four small jobs share one; default 1 where GPUs are)",
    )
    run.set_defaults(func=cmd_run)
    scaffold = sub.add_parser(
        "new-plugin",
        help="write a ready model plugin package NAME/ (pyproject, model, test, README)",
        description="Write a model plugin package NAME/ here: `pip install -e NAME` installs it and "
        "`zoo run NAME` trains it.",
    )
    scaffold.add_argument("name", help="the model's name, lower_snake_case")
    scaffold.set_defaults(func=cmd_new_plugin)
    for name, func, text in (
        ("predict", cmd_predict, "class probabilities of new recordings, per window and per file (CSV)"),
        ("embed", cmd_embed, "penultimate-layer embeddings of new recordings, per window and per file"),
    ):
        apply = sub.add_parser(name, parents=[common], help=text, description=text)
        apply.add_argument("run", help="run id (or its first characters), a run folder, or 'best'")
        apply.add_argument("paths", nargs="+", help="audio files, folders (searched recursively) or globs")
        apply.add_argument("--hop", type=float, help="seconds between window starts (default: half a window)")
        apply.add_argument(
            "--windows",
            choices=("sliding", "evaluation"),
            default="sliding",
            help="sliding windows every --hop (default), or the windows the run's evaluation cut",
        )
        apply.add_argument(
            "--out", type=Path, help="output file prefix (default: predictions/ or embeddings/)"
        )
        apply.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
        if name == "predict":
            apply.add_argument("--top-k", type=int, default=3, help="labels per row (default 3)")
            apply.add_argument(
                "--min-confidence",
                type=float,
                default=0.0,
                help="leave out windows whose top label is below this",
            )
        apply.set_defaults(func=func)
    exporter = sub.add_parser(
        "export", parents=[common], help="a run as one ONNX or TorchScript file (waveform -> probabilities)"
    )
    exporter.add_argument("run", help="run id (or its first characters), a run folder, or 'best'")
    exporter.add_argument("--format", choices=("onnx", "torchscript"), default="onnx")
    exporter.add_argument("--out", type=Path, help="output folder (default: exports/<run id>/)")
    exporter.set_defaults(func=cmd_export)
    show = sub.add_parser("show", parents=[common], help="a run's metrics and per-class report")
    show.add_argument("run", help="run id (or its first characters), or a run folder")
    show.set_defaults(func=cmd_show)
    return parser


def _overrides(args) -> dict:
    """The command line's settings: --set KEY=VALUE and the shortcuts (--dataset, --epochs, ...)."""
    # --dataset starts [dataset] afresh: root, id and options in the file belong to the file's data set
    overrides = {"dataset": {}} if args.dataset else {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ZooError(f"--set {item!r}: use KEY=VALUE, e.g. --set protocol.epochs=10.")
        overrides[key.strip()] = parse_value(value.strip())
    for key, value in (
        ("dataset.name", args.dataset),
        ("dataset.root", args.data_root),
        ("dataset.id", args.dataset_id),
        ("protocol.epochs", args.epochs),
        ("protocol.seeds", args.seeds),
    ):
        if value is not None:
            overrides[key] = value
    if args.data_root is not None:  # relative to where the user typed it, not to registry.toml
        overrides["dataset.root"] = str(Path(args.data_root).resolve())
    return overrides


def _settings(args, needs_registry: bool = True):
    overrides = _overrides(args)
    try:
        registry_file = args.registry or find_registry()
    except ZooError:
        # work would be done with settings nobody chose, and files written where nobody looks
        if needs_registry:
            raise
        return settings_from_dict(with_overrides({}, overrides), Path.cwd())  # listing only: the defaults
    return load_settings(registry_file, overrides)


def _load(args, needs_registry: bool = True):
    """Settings and registry; the features are the active data set's recommendation under [features]."""
    from zoo.runner import with_registry

    return with_registry(_settings(args, needs_registry))


def _warn_broken(registry) -> None:
    for p in registry.plugins:
        if p.error:
            _warn(f"plugin {p.name!r} ({p.source}) skipped: {p.error}")


def cmd_init(args) -> None:
    from zoo.config import REGISTRY_FILE, render_registry
    from zoo.io import write_text

    target = Path(args.registry or REGISTRY_FILE)
    if target.exists():
        raise ZooError(f"{target} already exists: edit it, or remove it first to start afresh.")
    _, registry = _load(args, needs_registry=False)
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

    from zoo.runner import model_spec

    settings, registry = _load(args, needs_registry=False)
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
        _number("params M"),
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
    _warn_broken(registry)


def _parameters(spec, params: dict) -> str:
    """Millions of parameters of the model at 10 classes, built without pretrained weights."""
    import torch

    from zoo.runner import without_pretrained

    try:
        with torch.device("meta"):
            model = spec.build(10, **without_pretrained(params))
        return f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f}"
    except Exception as exc:
        return f"? ({type(exc).__name__})"


def cmd_datasets(args) -> None:
    _list_specs(args, "dataset")


def _list_specs(args, kind: str) -> None:
    _, registry = _load(args, needs_registry=False)
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
    _warn_broken(registry)


def cmd_plugins(args) -> None:
    _, registry = _load(args, needs_registry=False)
    table = Table("plugin", "source", "hooks", "registers", "status", title="Plugins")
    for p in registry.plugins:
        registers = ", ".join(p.models + p.datasets)
        status = f"[red]skipped: {escape(p.error)}[/]" if p.error else "[green]ok[/]"
        table.add_row(p.name, p.source, ", ".join(p.hooks), registers, status)
    console.print(table)


def _prepare(settings, registry):
    """(settings with the features that fit the data, the prepared cache), with a progress bar."""
    from zoo.runner import fit_features, prepare_data

    with Progress(
        TextColumn("[bold]preparing {task.fields[name]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("clips, {task.fields[skipped]} skipped"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("prepare", total=None, name=settings.dataset.key, skipped=0)

        def report(done, total, skipped):
            progress.update(task, completed=done, total=total, skipped=skipped)

        settings = fit_features(settings, registry, progress=report, waiting=_say_waiting)
        prepared = prepare_data(settings, registry, progress=report, waiting=_say_waiting)
        n = prepared.meta["clips"]  # also when the cache was reused and nothing was decoded
        progress.update(task, completed=n, total=n, skipped=prepared.meta["skipped"])
    for item in prepared.skipped:
        err_console.print(
            f"[yellow]skipped:[/] {escape(item['path'])}: {escape(item['reason'])}",
            highlight=False,
            soft_wrap=True,
        )
    f = settings.features
    origin = {
        "dataset": "the data set's own",
        "inspected": "inspected from its train split, as `zoo inspect` recommends",
        "registry": "[features] of registry.toml over the data set's or the inspected ones",
    }
    console.print(
        f"features ({origin.get(settings.features_source, 'defaults')}): {f.sample_rate} Hz, "
        f"{f.n_mels} mels x {f.frames} frames ({f.samples / f.sample_rate:.2f} s windows), "
        f"normalise {f.normalise}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    return settings, prepared


def _say_waiting(what: str) -> None:
    err_console.print(
        f"waiting: {what}; this process goes on when it is done.", highlight=False, soft_wrap=True
    )


def _check_outputs(settings, *which: str, models: list[str] = ()) -> None:
    """Every folder the command writes writable, before any work (one line naming the folder when not): the
    top folders `which`, and the data set's and `models`' folders under them."""
    from zoo.io import check_writable

    names = {"cache": "feature cache", "experiments": "experiments", "leaderboard": "leaderboard"}
    for key in which:
        check_writable(
            settings.path(key), names[key], f'fix it, or set [paths] {key} = "..." in registry.toml'
        )
    fix = "fix its permissions (every user who runs zoo in this project needs write access)"
    key = settings.dataset.key
    if "cache" in which:
        check_writable(settings.path("cache") / "features" / key, "feature cache", fix)
    if "experiments" in which:
        for model in models:
            check_writable(settings.path("experiments") / key / model, "experiments", fix)


def _split(settings, prepared, fold: int = 1):
    from zoo.runner import split_data

    splits = split_data(settings, prepared, fold)
    where = f"fold {fold}/{settings.protocol.folds}" if settings.protocol.folds > 1 else ""
    for warning in splits.warnings:
        _warn(warning, where)
    return splits


def cmd_prepare(args) -> None:
    settings, registry = _load(args)
    _warn_broken(registry)
    _check_outputs(settings, "cache")
    settings, prepared = _prepare(settings, registry)
    splits = _split(settings, prepared)
    table = Table("class", "train", "val", "test", title=f"{settings.dataset.key}: cache {prepared.dir}")
    for name, counts in splits.counts().iterrows():
        table.add_row(name, *(str(counts[s]) for s in ("train", "val", "test")))
    console.print(table)
    if prepared.skipped:
        console.print(
            f"{len(prepared.skipped)} clip(s) skipped (listed above and in {prepared.dir / 'clips.csv'})."
        )


def cmd_inspect(args) -> None:
    """Per class: clips, duration, groups, sample rates, skipped and duplicate files, split sizes."""
    settings, registry = _load(args)
    _check_outputs(settings, "cache")
    settings, prepared = _prepare(settings, registry)
    splits = _split(settings, prepared)
    clips, usable = prepared.clips, splits.clips
    decodable = clips[clips["reason"] == ""]
    # class names whole at 80 columns (they are the point of this table): short headers, one-space gaps
    table = Table(
        Column("class", no_wrap=True),
        *(_number(h) for h in ("clips", "sec", "grp", "kHz", "skip", "dup", "train", "val", "test")),
        title=f"{settings.dataset.key}: {len(clips)} clips",
        box=None,
        padding=(0, 1, 0, 0),
        header_style="bold",
        caption="sec: seconds of audio; grp: groups (recordings); kHz: native rates; skip: clips that could "
        "not be read; dup: duplicate files left out",
    )
    counts = splits.counts()
    for label in sorted(clips["label"].unique()):
        mine = clips[clips["label"] == label]
        ok = decodable[decodable["label"] == label]
        rates = sorted({f"{r / 1000:g}" for r in ok["sample_rate"].astype(int)}, key=float)
        split_sizes = counts.loc[label] if label in counts.index else {s: 0 for s in ("train", "val", "test")}
        table.add_row(
            label,
            str(len(mine)),
            f"{ok['duration_s'].sum():.0f}",
            str(mine["group"].nunique()),
            rates[0] if len(rates) == 1 else f"{rates[0]}-{rates[-1]}" if rates else "-",
            str(len(mine) - len(ok)),
            str(len(ok) - (usable["label"] == label).sum()),
            *(str(split_sizes[s]) for s in ("train", "val", "test")),
        )
    console.print(table)
    for item in prepared.skipped:
        console.print(f"skipped: {item['path']}: {item['reason']}", highlight=False, soft_wrap=True)
    _print_recommendation(settings, registry, prepared, splits)


def _print_recommendation(settings, registry, prepared, splits) -> None:
    """What the clips hold, the features that fit them, and what the features in force do to them."""
    from zoo.data.recommend import recommend

    train = splits.clips.query("split == 'train'")  # never the test clips
    features, figures = recommend(train)
    console.print(
        f"train split ({len(train)} clips): " + "; ".join(f"{k}: {v}" for k, v in figures.items()),
        highlight=False,
        soft_wrap=True,
    )
    console.print(f"in force: {prepared.resampling()}", highlight=False, soft_wrap=True)
    if splits.shortcut:
        s = splits.shortcut
        console.print(
            f"shortcut check: recording metadata alone scores {s['accuracy']:.2f} on the test split "
            f"(the largest class: {s['chance']:.2f})",
            highlight=False,
        )
    used = (
        "in force for this data set, which recommends none of its own"
        if settings.features_source == "inspected"
        else "paste into registry.toml to use them instead"
    )
    console.print(f"Features that fit these clips ({used}):", highlight=False)
    console.print(
        "[features]\n" + "\n".join(f"{k} = {v!r}" for k, v in features.items()), markup=False, highlight=False
    )
    _print_costs(settings, registry, settings.with_recommended_features(features, "", "inspected").features)


def _print_costs(settings, registry, f) -> None:
    """What features cost: the input size and each [models] entry's multiply-accumulates per window."""
    from zoo.compute import macs
    from zoo.runner import model_spec, without_pretrained

    costs = []
    for name in settings.models:
        try:
            spec, params = model_spec(settings, registry, name)
            costs.append(
                f"{name} {macs(spec.build(10, **without_pretrained(params)), f.n_mels, f.frames) / 1e6:,.0f}"
            )
        except Exception as exc:  # a model that does not build at this size: said, not fatal
            costs.append(f"{name} ? ({type(exc).__name__})")
    console.print(
        f"cost: inputs of {f.n_mels} x {f.frames} ({f.samples / f.sample_rate:.2f} s windows); "
        f"M multiply-accumulates per window: {', '.join(costs) or 'no [models] in registry.toml'}",
        highlight=False,
        soft_wrap=True,
    )


def cmd_run(args) -> int:
    from zoo.runner import model_params
    from zoo.sweep import Source, executor_named, plan_sweep, run_sweep

    settings, registry = _load(args)
    _warn_broken(registry)
    if args.all and args.models:
        raise ZooError("Give model names or --all, not both.")
    names = list(settings.models) if args.all else args.models
    if not names:
        raise ZooError(
            "No models to run: name some (see 'zoo models') or use --all with [models.NAME] tables in "
            "registry.toml."
        )
    for name in names:
        model_params(settings, registry, name)  # unknown names and options fail before any work
    executor = executor_named(args.executor, args.jobs, args.gpus_per_job, args.address)
    _check_outputs(settings, "cache", "experiments", "leaderboard", models=names)
    settings, prepared = _prepare(settings, registry)  # once, before any job starts
    for fold in range(1, settings.protocol.folds + 1):
        _split(settings, prepared, fold)  # the split's warnings, once per fold
    source = Source.from_registry(args.registry or find_registry(), _overrides(args))
    jobs = plan_sweep(source, names, args.force)
    with _SweepDisplay() as display:
        outcomes = run_sweep(jobs, display.emit, executor)
    results = [o for o in outcomes if not o.error]
    failures = [o for o in outcomes if o.error]
    _print_results(results, failures)
    _refresh_leaderboard(settings)
    if failures:
        err_console.print(
            f"{len(failures)} run(s) failed (recorded in failed.json of their run folders; not ranked).",
            highlight=False,
            soft_wrap=True,
        )
        return 1
    return 0


class _SweepDisplay:
    """Progress events of a sweep's jobs (zoo.sweep) drawn as one bar per job in training."""

    def __init__(self):
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("epochs"),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=console,
        )
        self.tasks: dict[str, int] = {}

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc)

    def emit(self, event: dict) -> None:
        label, kind, say = event["job"], event["kind"], self.progress.console.print
        if kind == "start":
            for note in event["notes"]:
                say(f"[cyan]{escape(label)}:[/] {escape(note)}", highlight=False)
            if event["finished"]:
                say(
                    f"[dim]{escape(label)}: run {event['run_id']} already finished with this exact config; "
                    f"not retrained (--force retrains). {escape(event['run_dir'])}[/]",
                    highlight=False,
                )
                return
            if event.get("damaged"):
                _warn(f"run {event['run_id']} is damaged ({event['damaged']}): retraining it", label)
            elif event["resuming"]:
                say(f"{escape(label)}: resuming run {event['run_id']} from its checkpoint", highlight=False)
            self.tasks[label] = self.progress.add_task(f"training {label}", total=event["epochs"], info="")
        elif kind == "epoch" and label in self.tasks:
            info = f"val loss {event['val_loss']:.3f}  val acc {event['val_accuracy']:.3f}" + (
                "  *" if event["best"] else ""
            )
            self.progress.update(self.tasks[label], completed=event["epoch"], info=info)
        elif kind == "trial":
            score = "-" if event["score"] is None else f"{event['score']:.4f}"
            values = ", ".join(f"{k}={v:.3g}" for k, v in event["params"].items())
            say(
                f"{escape(label)}: trial {event['number'] + 1}/{event['of']} {event['state']}, "
                f"validation score {score} after {event['epochs']} epochs ({values})",
                highlight=False,
            )
        elif kind == "waiting":
            _say_waiting(event["what"])
        elif kind == "failed":
            err_console.print(
                f"[bold red]failed:[/] {escape(event['error'])}", highlight=False, soft_wrap=True
            )
        if kind in ("done", "failed") and label in self.tasks:
            self.progress.stop_task(self.tasks[label])


def _print_results(results, failures) -> None:
    """The runs of this command (zoo.sweep Outcomes), readable in 80 columns: short run ids, numbers never
    wrapped."""
    from zoo.metrics import METRICS

    shown = [m for m in METRICS if m.terminal]
    table = Table(
        Column("model", overflow="fold"),
        Column("run", no_wrap=True),
        *(_number(m.label) for m in shown),
        _number("epochs"),
        _number("train s"),
        title="Test-split results",
    )
    for outcome in results:
        m = outcome.metrics
        table.add_row(
            outcome.job.label,
            outcome.run_id[:8],
            *(metric.format(m[metric.name]) for metric in shown),
            str(m["epochs"]),
            f"{m['train_seconds']:.1f}",
        )
    for outcome in failures:
        table.add_row(outcome.job.label, outcome.run_id[:8], "[red]failed[/]", *["-"] * (len(shown) + 1))
    console.print(table)


def _number(header: str) -> Column:
    return Column(header, justify="right", no_wrap=True)


def _refresh_leaderboard(settings) -> None:
    from zoo.leaderboard import rank_label, row_label, weights_of, with_interval, write_leaderboards
    from zoo.metrics import BY_NAME, RANK_BY

    boards = write_leaderboards(settings.path("experiments"), settings.path("leaderboard"))
    board = next((b for b in boards if b.dataset == settings.dataset.key), None)
    for item in board.damaged if board else ():
        _warn(f"damaged run folder, not ranked: {item}")
    if board is None or not (board.rows or board.failed):
        console.print(f"No finished runs for {settings.dataset.key!r} yet: `zoo run --all`.")
        return
    first, second = BY_NAME[RANK_BY[0]], BY_NAME[RANK_BY[1]]
    table = Table(
        Column("#", no_wrap=True),
        Column("model", overflow="fold"),
        _number(f"{first.label} [95% CI]"),
        _number(second.label),
        _number("ECE"),
        Column("run", no_wrap=True),
        title=f"Leaderboard: {board.dataset}",
    )
    for row in board.rows:
        table.add_row(
            rank_label(row).replace(" (tied)", "="),
            row_label(row) + (" *" if weights_of(row, short=True) == "random (auto)" else ""),
            with_interval(row, first.name, compact=True),
            second.format(row[second.name], 3),
            BY_NAME["ece"].format(row["ece"], 3),
            row["run_id"][:8],
        )
    for run in board.failed:
        table.add_row("-", run["model"], "[red]failed[/]", "-", "-", run["run_id"][:8])
    console.print(table)
    if any(row["tied"] for row in board.rows):
        console.print(
            "=: cannot be told apart from the leader (paired bootstrap, p >= 0.05): it shares rank 1.",
            highlight=False,
        )
    for run in board.failed:
        console.print(
            f"failed: {run['model']} ({run['run_id'][:8]}): {escape(str(run.get('error', '')))}",
            highlight=False,
            soft_wrap=True,
        )
    if any(weights_of(run, short=True) == "random (auto)" for run in board.rows):
        console.print('*: pretrained = "auto" found no ImageNet weights: random init', highlight=False)
    console.print(
        f"written: {settings.path('leaderboard') / (board.dataset + '.md')} (every metric with its interval, "
        "the comparison with the leader, compute, per-class view, notes)",
        highlight=False,
        soft_wrap=True,
    )


def cmd_leaderboard(args) -> None:
    settings = _settings(args)
    _check_outputs(settings, "leaderboard")
    _refresh_leaderboard(settings)


def _trained_run(args, device: str = "cpu"):
    """The run that `args.run` names ('best': the leader of the active data set), loaded."""
    from zoo.inference import TrainedRun
    from zoo.runner import find_run
    from zoo.trainer import pick_device

    settings, registry = _load(args)
    experiments = settings.path("experiments")
    if args.run == "best":
        from zoo.leaderboard import build_board

        board = build_board(experiments, settings.dataset.key)
        if not board.rows:
            raise ZooError(f"No finished runs for {settings.dataset.key!r}: `zoo run --all` first.")
        run_dir = board.rows[0]["run_dir"]
    else:
        run_dir = find_run(args.run, experiments)
    run = TrainedRun(run_dir, pick_device(device), registry)
    console.print(
        f"{run.model_name} run {run.run_id} ({run.dir}): {len(run.classes)} classes, windows of "
        f"{run.window_s:.3f} s at {run.features.sample_rate} Hz",
        highlight=False,
        markup=False,
    )
    return settings, run


def _apply_with_progress(args, what: str):
    """Decode, window and run every file of args.paths with a progress bar in files and audio hours."""
    from zoo.inference import apply_to_files, audio_files
    from zoo.io import check_writable

    _check_apply_options(args)
    settings, run = _trained_run(args, args.device)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    folder = "predictions" if what == "predict" else "embeddings"
    prefix = args.out or settings.root / folder / f"{run.run_id[:8]}-{stamp}"
    check_writable(prefix.parent, f"{what} output", "choose another with --out")
    paths = audio_files(args.paths)
    if not paths:
        raise ZooError(f"No audio files in {' '.join(args.paths)}.")
    with Progress(
        TextColumn(f"[bold]{what}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("files, {task.fields[hours]:.2f} h of audio"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task(what, total=len(paths), hours=0.0)

        def report(path, seconds):
            progress.update(task, advance=1, hours=progress.tasks[0].fields["hours"] + seconds / 3600)

        results, skipped = apply_to_files(run, paths, what, args.hop, args.windows, report)
    for path, why in skipped.items():
        _warn(f"{path}: {why}; skipped")
    rates = sorted({clip.sample_rate for clip, _ in results.values()} - {run.features.sample_rate})
    if rates:
        console.print(
            f"resampled to the run's {run.features.sample_rate} Hz from {', '.join(map(str, rates))} Hz",
            highlight=False,
        )
    short = sum(w.padded for _, w in results.values())
    if short:
        console.print(
            f"{short} file(s) shorter than one window: padded at the end, as in training (`padded` column)",
            highlight=False,
        )
    if not results:
        raise ZooError(
            f"None of the {len(paths)} audio file(s) could be read (listed above): nothing written."
        )
    prefix.parent.mkdir(parents=True, exist_ok=True)
    if skipped:
        import pandas as pd

        from zoo.io import write_csv

        write_csv(
            Path(f"{prefix}-skipped.csv"),
            pd.DataFrame({"path": list(map(str, skipped)), "reason": list(skipped.values())}),
        )
    return run, results, prefix


def _check_apply_options(args) -> None:
    """predict/embed options in range, before any work (one line each)."""
    import math

    if args.hop is not None and not (math.isfinite(args.hop) and 0.001 <= args.hop <= 3600):
        raise ZooError(f"--hop {args.hop}: give seconds between window starts, from 0.001 to 3600.")
    if getattr(args, "top_k", 1) < 1:
        raise ZooError(f"--top-k {args.top_k}: give 1 or more labels per row.")
    confidence = getattr(args, "min_confidence", 0.0)
    if not 0.0 <= confidence <= 1.0:  # NaN fails both
        raise ZooError(f"--min-confidence {confidence}: give a probability from 0 to 1.")


def cmd_predict(args) -> None:
    from zoo.outputs import write_predictions

    run, results, prefix = _apply_with_progress(args, "predict")
    written = write_predictions(run, results, prefix, args.top_k, args.min_confidence)
    console.print("written: " + ", ".join(map(str, written)), highlight=False, soft_wrap=True)


def cmd_embed(args) -> None:
    from zoo.outputs import write_embeddings

    run, results, prefix = _apply_with_progress(args, "embed")
    written = write_embeddings(results, prefix)
    console.print("written: " + ", ".join(map(str, written)), highlight=False, soft_wrap=True)


def cmd_export(args) -> None:
    from zoo.export import export, readme_of
    from zoo.io import check_writable

    settings, run = _trained_run(args)
    out = args.out or settings.root / "exports" / run.run_id[:8]
    check_writable(out, "export", "choose another with --out")
    target = export(run, args.format, out)
    console.print(f"written: {target} and {readme_of(target, args.format)} (how to call it)", highlight=False)


def cmd_show(args) -> None:
    import csv

    from zoo.io import read_json
    from zoo.metrics import METRICS
    from zoo.runner import find_run, run_damage

    run_dir = find_run(args.run, _settings(args).path("experiments"))
    if not (run_dir / "metrics.json").is_file():
        if (run_dir / "failed.json").is_file():
            failed = read_json(run_dir / "failed.json")
            raise ZooError(f"Run {run_dir.name} ({failed['model']}) failed: {failed['error']}")
        raise ZooError(f"Run {run_dir} has not finished: `zoo run` resumes it.")
    if (damage := run_damage(run_dir)) is not None:
        raise ZooError(f"Run {run_dir} is damaged ({' '.join(damage)}): `zoo run` retrains it.")
    m = read_json(run_dir / "metrics.json")
    console.print(f"[bold]{m['model']}[/] on {m['dataset']}, run {m['run_id']} ({run_dir})", highlight=False)
    for metric in METRICS:
        low, high = m.get("intervals", {}).get(metric.name, (None, None))
        interval = f"  (95% CI {metric.format(low)}-{metric.format(high)})" if low is not None else ""
        console.print(f"{metric.label:>16} {metric.format(m.get(metric.name, float('nan')))}{interval}")
    console.print(
        f"test clips {m['n_test']}, epochs {m['epochs']} (best {m['best_epoch']}); report: "
        f"{run_dir / 'report.md'}",
        highlight=False,
        soft_wrap=True,
    )
    for note in m.get("notes", []):
        console.print(f"note: {note}", highlight=False)
    table = Table(
        Column("class", overflow="fold"),
        _number("precision"),
        _number("recall"),
        _number("f1"),
        _number("support"),
        title="Per-class report (test split)",
    )
    with open(run_dir / "report.csv", newline="") as f:
        for row in csv.DictReader(f):
            table.add_row(
                row["class"], *(f"{float(row[k]):.4f}" for k in ("precision", "recall", "f1")), row["support"]
            )
    console.print(table)
    wrong = sum(1 for _ in open(run_dir / "misclassified.csv")) - 1
    console.print(f"{wrong} misclassified clip(s): {run_dir / 'misclassified.csv'}", highlight=False)


def entry() -> None:
    """The `zoo` console script. After Ctrl-C or SIGTERM (cleaned up by then: decoders killed, partial
    writes removed) the process ends at once: Python's exit joins worker threads that an interrupt can
    leave waiting forever, and decoding processes die with this one (PR_SET_PDEATHSIG)."""
    code = main()
    if code in (130, 143):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    entry()
