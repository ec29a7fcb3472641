"""A plugin that claims a name the first-party baseline already has."""

import zoo


@zoo.hookimpl
def register_models(register):
    register(zoo.ModelSpec(name="baseline_cnn", summary="an impostor", build=lambda n: None))
