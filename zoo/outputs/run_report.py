"""The run's tables and report: report.csv (per class), misclassified.csv (the mistakes, most confident
first) and report.md (readable on GitHub and in an editor), each a registered output."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import zoo
from zoo.io import write_csv, write_text

if TYPE_CHECKING:
    import pandas as pd

MISTAKES_SHOWN = 20  # the most confident mistakes listed in report.md


@zoo.hookimpl
def register_outputs(register):
    for name, summary, write in (
        ("report.csv", "per class: precision, recall, F1, support", write_report_csv),
        ("misclassified.csv", "the test clips it got wrong, most confident first", write_mistakes),
        ("report.md", "the run on one page: metrics, classes, plots, mistakes", write_report),
    ):
        register(zoo.OutputSpec(name, summary, write, "run"))


def mistakes(ev) -> pd.DataFrame:
    return ev.predictions[~ev.predictions["correct"]].sort_values("confidence", ascending=False)


def write_report_csv(ev, run_dir: Path) -> None:
    write_csv(run_dir / "report.csv", ev.report)


def write_mistakes(ev, run_dir: Path) -> None:
    write_csv(run_dir / "misclassified.csv", mistakes(ev))


def write_report(ev, run_dir: Path) -> None:
    write_text(run_dir / "report.md", render_report(ev.metrics, ev.report, mistakes(ev)))


def render_report(metrics: dict, report: pd.DataFrame, wrong: pd.DataFrame) -> str:
    """report.md: one run, readable on GitHub and in an editor."""
    from zoo.evaluate.metrics import metrics_for

    title = metrics.get("model", "model") + (f" on {metrics['dataset']}" if "dataset" in metrics else "")
    fold = metrics.get("fold")
    lines = [
        f"# {title}",
        "",
        f"Run `{metrics.get('run_id', '')}`"
        + (f", fold {fold['index']} of {fold['of']}" if fold else "")
        + (f", seed {metrics['seed']}" if "seed" in metrics else "")
        + f": test split only, {metrics['n_test']} clips from {metrics['n_groups']} recordings (groups). "
        f"Intervals: {metrics['interval']}.",
        "",
        "| metric | value | 95 % interval |",
        "|---|---:|---|",
    ]
    for m in metrics_for(metrics.get("task", "single")):
        low, high = metrics["intervals"][m.name]
        better = "higher" if m.higher_is_better else "lower"
        lines.append(
            f"| {m.label} ({better} is better) | {m.format(metrics[m.name])} | "
            f"{m.format(low)} - {m.format(high)} |"
        )
    if "compute" in metrics:
        lines += ["", compute_line(metrics)]
    lines += _per_class(report)
    single = "confusion_matrix" in metrics
    plots = [("confusion matrix", "confusion.png")] * single + [("training curves", "curves.png")]
    plots += [("reliability diagram", "reliability.png")] * single + [("precision-recall", "pr.png")] * (
        not single
    )
    lines += ["", "## Plots", ""] + [f"![{what}]({name})\n" for what, name in plots]
    lines += [f"## The {MISTAKES_SHOWN} most confident mistakes", ""]
    label = "label" if "label" in wrong.columns else "labels"
    if wrong.empty:
        lines.append("None: every test clip is right.")
    else:
        lines += [f"| clip | {label} | predicted | confidence |", "|---|---|---|---:|"]
        lines += [
            f"| {Path(r['path']).name} | {r[label]} | {r['predicted']} | {r['confidence']:.3f} |"
            for _, r in wrong.head(MISTAKES_SHOWN).iterrows()
        ]
    lines += ["", "Every prediction: predictions.csv; every mistake: misclassified.csv; classes: report.csv."]
    return "\n".join(lines) + "\n"


def _per_class(report: pd.DataFrame) -> list[str]:
    """The per-class table (multi-label: with each class's AP and its threshold)."""
    multi = "ap" in report.columns
    head = "| class | AP | precision | recall | F1 | threshold | support |" if multi else None
    lines = ["", "## Per class", "", head or "| class | precision | recall | F1 | support |"]
    lines += ["|---|" + "---:|" * (6 if multi else 4)]
    for _, r in report.iterrows():
        cells = [r["precision"], r["recall"], r["f1"]]
        cells = [r["ap"], *cells, r["threshold"]] if multi else cells
        lines.append(f"| {r['class']} | " + " | ".join(f"{v:.3f}" for v in cells) + f" | {r['support']} |")
    return lines


def compute_line(metrics: dict) -> str:
    c = metrics["compute"]
    return (
        f"Compute: {c['params'] / 1e6:.2f} M parameters, {c['macs'] / 1e6:.1f} M multiply-accumulates per "
        f"window ({c['input']}), {c['latency_ms']:.2f} ms per window on CPU (batch 1, median), "
        f"training {metrics.get('train_seconds', 0):.0f} s on {metrics.get('device', '?')}."
    )
