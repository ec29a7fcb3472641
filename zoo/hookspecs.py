"""The pluggy hook specifications: the whole contract between the core and its plugins."""

import pluggy

hookspec = pluggy.HookspecMarker("audio_zoo")


@hookspec
def register_models(register):
    """Call ``register(ModelSpec(...))`` once for each model this plugin provides."""


@hookspec
def register_datasets(register):
    """Call ``register(DatasetSpec(...))`` once for each data set this plugin provides."""
