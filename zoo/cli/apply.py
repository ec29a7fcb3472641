"""The commands that apply a finished run: predict, embed, export, show."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from zoo.cli.args import load, settings_of
from zoo.cli.draw import console, number, warn
from zoo.errors import ZooError


def _trained_run(args, device: str = "cpu"):
    """The run that `args.run` names ('best': the leader of the active data set), loaded."""
    from zoo.apply.inference import TrainedRun
    from zoo.runs.folder import find_run
    from zoo.train.trainer import pick_device

    settings, registry = load(args)
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
    from zoo.apply.recordings import apply_to_files, audio_files
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
        warn(f"{path}: {why}; skipped")
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
    from zoo.apply.files import write_predictions, write_raven

    if args.truth and args.format != "raven":
        raise ZooError("--truth scores detections: add --format raven.")
    run, results, prefix = _apply_with_progress(args, "predict")
    if args.format == "csv":
        written = write_predictions(run, results, prefix, args.top_k, args.min_confidence)
        console.print("written: " + ", ".join(map(str, written)), highlight=False, soft_wrap=True)
        return
    folder = Path(f"{prefix}-raven")
    written, events = write_raven(run, results, folder, args.min_confidence)
    found = sum(len(e) for e in events.values())
    console.print(
        f"written: {len(written)} Raven selection table(s), {found} events, in {folder}", highlight=False
    )
    if args.truth:
        _score_events(args, run, events, Path(f"{prefix}-events.json"))


def _score_events(args, run, events: dict, target: Path) -> None:
    """The detections against the true tables of the same recordings (a table named after its recording:
    NAME.txt or NAME.Table.1.selections.txt): event precision, recall, F1 at the collar, as sed_eval."""
    from zoo.data.raven import TABLE_SUFFIXES, read_table, recording_of
    from zoo.evaluate.events import pooled_event_scores
    from zoo.io import write_json

    tables = [
        p
        for item in args.truth
        for p in (sorted(Path(item).rglob("*.txt")) if Path(item).is_dir() else [Path(item)])
    ]
    by_name = {recording_of(t): t for t in tables if t.name.endswith(TABLE_SUFFIXES)}
    pairs = [
        (found, read_table(by_name[path.stem])) for path, found in events.items() if path.stem in by_name
    ]
    if not pairs:
        raise ZooError(f"None of the {len(tables)} --truth table(s) is named after a recording (NAME.txt).")
    collar = args.collar if args.collar is not None else (args.hop or run.hop_s)
    scores = pooled_event_scores(pairs, onset_tolerance=collar, offset_tolerance=collar)
    write_json(target, {"collar_s": collar, **scores})
    console.print(
        f"events against the truth ({scores['recordings']} recording(s), collar {collar:g} s): precision "
        f"{scores['precision']:.3f}, recall {scores['recall']:.3f}, F1 {scores['f1']:.3f} "
        f"(tp {scores['tp']}, fp {scores['fp']}, fn {scores['fn']}); per class: {target}",
        highlight=False,
        soft_wrap=True,
    )


def cmd_embed(args) -> None:
    from zoo.apply.files import write_embeddings

    run, results, prefix = _apply_with_progress(args, "embed")
    written = write_embeddings(results, prefix)
    console.print("written: " + ", ".join(map(str, written)), highlight=False, soft_wrap=True)


def cmd_export(args) -> None:
    from zoo.apply.export import export, readme_of
    from zoo.io import check_writable

    settings, run = _trained_run(args)
    out = args.out or settings.root / "exports" / run.run_id[:8]
    check_writable(out, "export", "choose another with --out")
    target = export(run, args.format, out)
    console.print(f"written: {target} and {readme_of(target, args.format)} (how to call it)", highlight=False)


def cmd_show(args) -> None:
    import csv

    from zoo.evaluate.metrics import metrics_for
    from zoo.io import read_json
    from zoo.runs import folder as files
    from zoo.runs.folder import find_run, run_damage

    run_dir = find_run(args.run, settings_of(args).path("experiments"))
    if not (run_dir / files.METRICS).is_file():
        if (run_dir / files.FAILED).is_file():
            failed = read_json(run_dir / files.FAILED)
            raise ZooError(f"Run {run_dir.name} ({failed['model']}) failed: {failed['error']}")
        raise ZooError(f"Run {run_dir} has not finished: `zoo run` resumes it.")
    if (damage := run_damage(run_dir)) is not None:
        raise ZooError(f"Run {run_dir} is damaged ({' '.join(damage)}): `zoo run` retrains it.")
    m = read_json(run_dir / files.METRICS)
    console.print(f"[bold]{m['model']}[/] on {m['dataset']}, run {m['run_id']} ({run_dir})", highlight=False)
    for metric in metrics_for(m.get("task", "single")):
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
        number("precision"),
        number("recall"),
        number("f1"),
        number("support"),
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
