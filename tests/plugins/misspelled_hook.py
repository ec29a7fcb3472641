"""A plugin whose hook name is misspelled: it must be reported, not silently ignored."""

import zoo


@zoo.hookimpl
def register_model(register):
    register(zoo.ModelSpec(name="never_seen", summary="x", build=lambda n: None))
