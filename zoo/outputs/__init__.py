"""The files the zoo writes from a run and from a leaderboard, as registered outputs (`register_outputs`):
the built-in ones (zoo.registry.DEFAULT_PLUGINS) arrive through the same hook as a plugin's, so a new output
file is one module.

A run output is `write(evaluation, run_dir)` (a zoo.evaluate.evaluator.Evaluation: metrics, per-class
report, predictions, history), called before metrics.json is written, so that the run records its size; a
leaderboard output is `write(board, leaderboard_dir)` for every data set (a zoo.leaderboard.Board), an index
output `write(boards, leaderboard_dir)` once.
"""

from __future__ import annotations

from pathlib import Path

from zoo.errors import ZooError


def _outputs(registry, scope: str) -> list:
    return [spec for _, spec in sorted(registry.outputs.items()) if spec.scope == scope]


def _write(registry, spec, *args) -> None:
    try:
        spec.write(*args)
    except ZooError:
        raise
    except Exception as exc:  # a plugin's writer: named, with its error
        plugin = registry.plugin_of("output", spec.name)
        raise ZooError(
            f"output {spec.name!r} (plugin {plugin!r}) failed: {type(exc).__name__}: {exc}"
        ) from exc


def write_run_outputs(registry, run_dir: Path, evaluation) -> None:
    """Every registered run output into `run_dir`."""
    for spec in _outputs(registry, "run"):
        _write(registry, spec, evaluation, run_dir)


def write_board_outputs(registry, folder: Path, boards: list) -> None:
    """Every registered leaderboard output for each board, then the index outputs, into `folder`."""
    for board in boards:
        for spec in _outputs(registry, "leaderboard"):
            _write(registry, spec, board, folder)
    for spec in _outputs(registry, "index"):
        _write(registry, spec, boards, folder)
