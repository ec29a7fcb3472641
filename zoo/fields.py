"""How a settings section declares its fields' ranges and choices (field metadata), and how a table of
values from registry.toml is checked into one: each key, kind and range, said in one line when wrong."""

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import field, fields
from typing import Any

from zoo.errors import ZooError


def at_least(low: float) -> dict:
    """Field metadata: values >= low."""
    return {"range": (low, None, False)}


def above(low: float) -> dict:
    """Field metadata: values > low."""
    return {"range": (low, None, True)}


def fraction() -> dict:
    """Field metadata: a share strictly between 0 and 1."""
    return {"range": (0.0, 1.0, True)}


def choice(default: str, *others: str) -> Any:
    """A field whose value is one of these strings, the first by default."""
    return field(default=default, metadata={"choices": (default, *others)})


def build_section(cls: type, values: Any, where: str) -> Any:
    """One section (`cls`) from a table of values, each key, kind and range checked, said in one line."""
    if not isinstance(values, dict):
        raise ZooError(f"{where}: must be a table of key = value lines.")
    names = {f.name: f for f in fields(cls)}
    for key, value in values.items():
        if key not in names:
            raise ZooError(f"{where}: unknown key {key!r}{hint(key, names)}; known: {', '.join(names)}.")
        f = names[key]
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if default is not dataclasses.MISSING and not same_kind(default, value):
            raise ZooError(f"{where}: {key} = {value!r} should be {kind_name(default)}.")
    values = {k: (float(v) if isinstance(names[k].default, float) else v) for k, v in values.items()}
    for key, value in values.items():
        check_range(names[key], value, where)
    built = cls(**values)
    if hasattr(built, "check"):
        built.check(where)
    return built


def check_range(f: dataclasses.Field, value: Any, where: str) -> None:
    """A field's declared range (at_least, above, fraction) or choices, said in one line when broken."""
    if (choices := f.metadata.get("choices")) and value not in choices:
        quoted = [f'"{c}"' for c in choices]
        raise ZooError(f"{where}: {f.name} = {value!r}; use {', '.join(quoted[:-1])} or {quoted[-1]}.")
    if "range" not in f.metadata:
        return
    low, high, strict = f.metadata["range"]
    if not math.isfinite(value):
        raise ZooError(f"{where}: {f.name} = {value!r} is not a finite number; give one, e.g. {f.default!r}.")
    ok = (value > low if strict else value >= low) and (high is None or value < high)
    if not ok:
        if high is not None:
            wanted = f"between {low:g} and {high:g} (both excluded)"
        else:
            wanted = f"{'above' if strict else 'of at least'} {low:g}"
        raise ZooError(f"{where}: {f.name} = {value!r} is out of range; use a value {wanted}.")


def kind_name(value: Any) -> str:
    """What kind of value `value` is, in words: an integer, a number, a string..."""
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string", dict: "a table"}
    return names.get(type(value), f"a {type(value).__name__}")


def same_kind(default: Any, value: Any) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    if default is dataclasses.MISSING or isinstance(default, dict):
        return isinstance(value, dict)
    return isinstance(value, type(default))


def hint(key: str, known) -> str:
    """ " (did you mean 'x'?)" for the known name closest to a misspelt `key`, or nothing."""
    close = difflib.get_close_matches(key, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
