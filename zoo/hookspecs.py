"""The pluggy hook specifications: the whole contract between the core and its plugins."""

import pluggy

hookspec = pluggy.HookspecMarker("audio_zoo")


@hookspec
def register_models(register):
    """Call ``register(ModelSpec(...))`` once for each model this plugin provides."""


@hookspec
def register_datasets(register):
    """Call ``register(DatasetSpec(...))`` once for each data set this plugin provides."""


@hookspec
def register_executors(register):
    """Call ``register(ExecutorSpec(...))`` once for each executor (where a sweep's jobs run)."""


@hookspec
def register_outputs(register):
    """Call ``register(OutputSpec(...))`` once for each file written per run or per leaderboard."""
