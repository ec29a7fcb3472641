"""`zoo run` and `zoo leaderboard`: plan the sweep, hand its jobs to an executor, draw its events as
progress bars, print the results and the leaderboard."""

from __future__ import annotations

from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from zoo.cli.args import settings_of, source_of
from zoo.cli.data import check_outputs, prepare_with_progress, split_with_warnings
from zoo.cli.draw import console, err_console, number, say_waiting, warn, warn_broken
from zoo.errors import ZooError


def cmd_run(args) -> int:
    from zoo.executors import build_executor
    from zoo.runs.plan import model_params
    from zoo.sweep import plan_sweep, run_sweep

    source = source_of(args)
    project = source.project()  # settings, registry, data: built once, shared with the jobs run here
    settings, registry = project.settings, project.registry
    warn_broken(registry)
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
    executor = build_executor(registry, args.executor, executor_options(args))
    check_outputs(settings, "cache", "experiments", "leaderboard", models=names)
    prepare_with_progress(project)  # once, before any job starts
    for fold in range(1, settings.protocol.folds + 1):
        split_with_warnings(project, fold)  # the split's warnings, once per fold
    jobs = plan_sweep(source, names, args.force)
    with SweepDisplay() as display:
        outcomes = run_sweep(jobs, display.emit, executor)
    results = [o for o in outcomes if not o.error]
    failures = [o for o in outcomes if o.error]
    print_results(results, failures)
    refresh_leaderboard(project.settings, registry)
    if failures:
        err_console.print(
            f"{len(failures)} run(s) failed (recorded in failed.json of their run folders; not ranked).",
            highlight=False,
            soft_wrap=True,
        )
        return 1
    return 0


def executor_options(args) -> dict:
    """The executor options given on the command line (the executor checks that it takes them)."""
    given = {"jobs": args.jobs, "address": args.address, "gpus_per_job": args.gpus_per_job}
    return {k: v for k, v in given.items() if v is not None}


class SweepDisplay:
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

    def emit(self, event) -> None:
        """Draw one zoo.sweep event."""
        from zoo.sweep import Done, Epoch, Failed, Started, Trial, Waiting

        if isinstance(event, Started):
            self._started(event)
        elif isinstance(event, Epoch) and event.job in self.tasks:
            row = event.row
            name, score = (
                ("val acc", row["val_accuracy"]) if "val_accuracy" in row else ("val mAP", row["val_map"])
            )
            info = f"val loss {row['val_loss']:.3f}  {name} {score:.3f}" + ("  *" if row["best"] else "")
            self.progress.update(self.tasks[event.job], completed=row["epoch"], info=info)
        elif isinstance(event, Trial):
            score = "-" if event.score is None else f"{event.score:.4f}"
            values = ", ".join(f"{k}={v:.3g}" for k, v in event.params.items())
            self.progress.console.print(
                f"{escape(event.job)}: trial {event.number + 1}/{event.of} {event.state}, "
                f"validation score {score} after {event.epochs} epochs ({values})",
                highlight=False,
            )
        elif isinstance(event, Waiting):
            say_waiting(event.what)
        elif isinstance(event, Failed):
            err_console.print(f"[bold red]failed:[/] {escape(event.error)}", highlight=False, soft_wrap=True)
        if isinstance(event, (Done, Failed)) and event.job in self.tasks:
            self.progress.stop_task(self.tasks[event.job])

    def _started(self, event) -> None:
        label, say = event.job, self.progress.console.print
        for note in event.notes:
            say(f"[cyan]{escape(label)}:[/] {escape(note)}", highlight=False)
        if event.finished:
            say(
                f"[dim]{escape(label)}: run {event.run_id} already finished with this exact config; "
                f"not retrained (--force retrains). {escape(event.run_dir)}[/]",
                highlight=False,
            )
            return
        if event.damaged:
            warn(f"run {event.run_id} is damaged ({event.damaged}): retraining it", label)
        elif event.resuming:
            say(f"{escape(label)}: resuming run {event.run_id} from its checkpoint", highlight=False)
        self.tasks[label] = self.progress.add_task(f"training {label}", total=event.epochs, info="")


def print_results(results, failures) -> None:
    """The runs of this command (zoo.sweep Outcomes), readable in 80 columns: short run ids, numbers never
    wrapped."""
    from zoo.evaluate.metrics import metrics_for

    tasks = {(o.metrics or {}).get("task", "single") for o in results} or {"single"}
    shown = [m for m in metrics_for(tasks.pop() if len(tasks) == 1 else "single") if m.terminal]
    table = Table(
        Column("model", overflow="fold"),
        Column("run", no_wrap=True),
        *(number(m.label) for m in shown),
        number("epochs"),
        number("train s"),
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


def refresh_leaderboard(settings, registry=None) -> None:
    """Rewrite the leaderboard files from the run folders (the registry's outputs) and print the active
    data set's board."""
    from zoo.evaluate.metrics import by_name, ranking
    from zoo.leaderboard import write_leaderboards
    from zoo.outputs.cells import rank_label, row_label, weights_of, with_interval

    boards = write_leaderboards(settings.path("experiments"), settings.path("leaderboard"), registry)
    board = next((b for b in boards if b.dataset == settings.dataset.key), None)
    for item in board.damaged if board else ():
        warn(f"damaged run folder, not ranked: {item}")
    if board is None or not (board.rows or board.failed):
        console.print(f"No finished runs for {settings.dataset.key!r} yet: `zoo run --all`.")
        return
    first, second = ranking(board.task)[0][:2]
    table = Table(
        Column("#", no_wrap=True),
        Column("model", overflow="fold"),
        number(f"{first.label} [95% CI]"),
        number(second.label),
        number("ECE"),
        Column("run", no_wrap=True),
        title=f"Leaderboard: {board.dataset}",
    )
    for row in board.rows:
        table.add_row(
            rank_label(row).replace(" (tied)", "="),
            row_label(row) + (" *" if weights_of(row, short=True) == "random (auto)" else ""),
            with_interval(row, first.name, compact=True),
            second.format(row[second.name], 3),
            by_name(board.task)["ece"].format(row["ece"], 3),
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
    from zoo.project import with_registry

    settings, registry = with_registry(settings_of(args))
    check_outputs(settings, "leaderboard")
    refresh_leaderboard(settings, registry)
