"""The data commands, prepare and inspect, and what `zoo run` shares with them: the folders it writes
checked first, the cache prepared with a progress bar, each fold's split warnings."""

from __future__ import annotations

from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from zoo.cli.args import settings_of
from zoo.cli.draw import console, err_console, number, say_waiting, warn, warn_broken


def project_of(args):
    """The command's zoo.project.Project (registry.toml needed)."""
    from zoo.project import Project

    return Project(settings_of(args))


def prepare_with_progress(project):
    """The project's features fitted to the data and its cache prepared, with a progress bar; the skipped
    clips and the features in force said. Returns the prepared cache."""
    settings = project.settings
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

        settings = project.fit_features(progress=report, waiting=say_waiting)
        prepared = project.prepared(progress=report, waiting=say_waiting)
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
    return prepared


def check_outputs(settings, *which: str, models: list[str] = ()) -> None:
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


def split_with_warnings(project, fold: int = 1):
    """The fold's splits, its warnings said (once per fold: the project keeps the splits)."""
    settings, splits = project.settings, project.splits(fold)
    where = f"fold {fold}/{settings.protocol.folds}" if settings.protocol.folds > 1 else ""
    for warning in splits.warnings:
        warn(warning, where)
    return splits


def cmd_prepare(args) -> None:
    project = project_of(args)
    warn_broken(project.registry)
    check_outputs(project.settings, "cache")
    prepared = prepare_with_progress(project)
    settings, splits = project.settings, split_with_warnings(project)
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
    project = project_of(args)
    check_outputs(project.settings, "cache")
    prepared = prepare_with_progress(project)
    settings, splits = project.settings, split_with_warnings(project)
    clips, usable = prepared.clips, splits.clips
    decodable = clips[clips["reason"] == ""]
    # class names whole at 80 columns (they are the point of this table): short headers, one-space gaps
    table = Table(
        Column("class", no_wrap=True),
        *(number(h) for h in ("clips", "sec", "grp", "kHz", "skip", "dup", "train", "val", "test")),
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
    _print_recommendation(project, prepared, splits)


def _print_recommendation(project, prepared, splits) -> None:
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
        if project.settings.features_source == "inspected"
        else "paste into registry.toml to use them instead"
    )
    console.print(f"Features that fit these clips ({used}):", highlight=False)
    console.print(
        "[features]\n" + "\n".join(f"{k} = {v!r}" for k, v in features.items()), markup=False, highlight=False
    )
    settings = project.settings
    _print_costs(project, settings.with_recommended_features(features, "", "inspected").features)


def _print_costs(project, f) -> None:
    """What features cost: the input size and each [models] entry's multiply-accumulates per window."""
    from zoo.compute import macs
    from zoo.runs.plan import model_spec, without_pretrained

    settings, costs = project.settings, []
    for name in settings.models:
        try:
            spec, params = model_spec(settings, project.registry, name)
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
