"""A plugin that registers a malformed spec (name with capitals and a non-callable build)."""

import zoo


@zoo.hookimpl
def register_models(register):
    register(zoo.ModelSpec(name="Good_Model", summary="x", build=None))
