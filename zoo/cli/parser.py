"""The `zoo` command's arguments: the options every command shares, and each command's own."""

from __future__ import annotations

import argparse
from pathlib import Path

from zoo.cli.apply import cmd_embed, cmd_export, cmd_predict, cmd_show
from zoo.cli.data import cmd_inspect, cmd_prepare
from zoo.cli.listing import cmd_datasets, cmd_init, cmd_models, cmd_new_plugin, cmd_plugins
from zoo.cli.run import cmd_leaderboard, cmd_run


def parser() -> argparse.ArgumentParser:
    """The whole command line: the common options, then each command with its own."""
    common = _common()
    parser = argparse.ArgumentParser(
        prog="zoo", description="audio-zoo: one protocol, one test set, one leaderboard."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _listing_and_data(sub, common)
    _run(sub, common)
    _apply(sub, common)
    return parser


def _common() -> argparse.ArgumentParser:
    """--registry, --dataset, --data-root, --dataset-id, --epochs, --seeds, --set: every command has them."""
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
    return common


def _listing_and_data(sub, common) -> None:
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
    scaffold = sub.add_parser(
        "new-plugin",
        help="write a ready model plugin package NAME/ (pyproject, model, test, README)",
        description="Write a model plugin package NAME/ here: `pip install -e NAME` installs it and "
        "`zoo run NAME` trains it.",
    )
    scaffold.add_argument("name", help="the model's name, lower_snake_case")
    scaffold.set_defaults(func=cmd_new_plugin)


def _run(sub, common) -> None:
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
    run.add_argument("--jobs", type=int, help="runs at once, in that many worker processes (default 1: here)")
    run.add_argument(
        "--executor",
        default="local",
        help="where jobs run (see 'zoo plugins'): local (this machine, the default), ray (a Ray cluster: "
        "pip install 'audio-zoo[ray]'), or a plugin's",
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


def _detections(predict) -> None:
    """predict's detection options: Raven selection tables, scored against true ones."""
    predict.add_argument(
        "--format",
        choices=("csv", "raven"),
        default="csv",
        help="csv: per window and per file (default); raven: one Raven selection table of events per file",
    )
    predict.add_argument(
        "--truth", nargs="+", help="with --format raven: true selection tables (files or folders) to score"
    )
    predict.add_argument(
        "--collar", type=float, help="onset/offset tolerance in seconds for --truth (default: the hop)"
    )


def _apply(sub, common) -> None:
    for name, func, text in (
        ("predict", cmd_predict, "class probabilities of new recordings, per window and per file (CSV)"),
        ("embed", cmd_embed, "penultimate-layer embeddings of new recordings, per window and per file"),
    ):
        apply = sub.add_parser(name, parents=[common], help=text, description=text)
        apply.add_argument("run", help="run id (or its first characters), a run folder, or 'best'")
        apply.add_argument("paths", nargs="+", help="audio files, folders (searched recursively) or globs")
        apply.add_argument(
            "--hop",
            type=float,
            help="seconds between window starts (default: half a window, down to an STFT hop)",
        )
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
            _detections(apply)
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
