"""One strict validator from plain mappings (YAML, JSON) to frozen dataclasses, and back.

The dataclass is the schema: its fields are the allowed keys, its type hints the allowed
values, its defaults (or a ``defaults`` instance) the values of missing keys, and its
``__post_init__`` the checks beyond types (ranges). Nested dataclasses are nested mappings, so
a file's nesting is the code's nesting::

    settings = build(InferenceSettings, {"overlap": 0.5, "crf": {"params": {"mu1": 4}}},
                     key="inference", defaults=bundle.settings)
    to_mapping(settings)   # {"window_voxels_xyz": [...], "crf": {"enabled": ..., "params": {...}}, ...}

Checks and conversions: an unknown key is an error naming the key and the allowed ones; a
value of the wrong type is an error saying what was expected and what was found; lists become
tuples, integers become floats where a float is expected, and so does a string in exponent
notation such as ``1e-4`` (YAML 1.2 reads it as a number, PyYAML's YAML 1.1 as a string, and
``lr: 1e-4`` must mean the number); ``bool`` is never taken for a number.
Supported hints: bool, int, float, str, None, Any, Literal, unions (``X | None``), fixed and
variable tuples, ``dict[str, ...]`` (free-form: any keys) and dataclasses.

Messages name the place in one of two ways: after a file (``source="exp.yaml"``:
``exp.yaml: unknown key 'training.epoch'; expected one of the keys ... in section 'training'``)
or as a key path (``key="inference"``: ``inference.crf: unknown key 'mu3'; expected ...``).
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from typing import Any, Literal, Mapping, TypeVar, Union

from livseg.errors import ConfigError

#: A number in exponent notation without a dot (``1e-4``, ``-2E+3``): a float in YAML 1.2, a
#: string in PyYAML's YAML 1.1 resolver.
_EXPONENT_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")

T = TypeVar("T")

_NONE_TYPE = type(None)
_FIX_SPELLING = "check the spelling against the documented keys"


def field_types(cls: type) -> dict[str, Any]:
    """The resolved type hint of each field of the dataclass ``cls``."""
    return typing.get_type_hints(cls)


def describe(hint: Any) -> str:
    """What a value of type ``hint`` looks like in a file ("an integer", "a list of 3 values (...)")."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return "any value"
    if hint is _NONE_TYPE:
        return "null"
    if origin is Literal:
        return "one of " + ", ".join(repr(v) for v in typing.get_args(hint))
    if origin in (Union, types.UnionType):
        return " or ".join(describe(a) for a in typing.get_args(hint))
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {describe(args[0])}"
        return f"a list of {len(args)} values ({', '.join(describe(a) for a in args)})"
    if origin is dict:
        return "a mapping"
    if dataclasses.is_dataclass(hint):
        return "a mapping with keys " + ", ".join(f.name for f in dataclasses.fields(hint))
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(
        hint, getattr(hint, "__name__", str(hint)))


class _Mismatch(Exception):
    """A value that does not fit its hint; carries the dotted key, what was expected, the value."""

    def __init__(self, key: str, expected: str, value: Any) -> None:
        super().__init__(key)
        self.key, self.expected, self.value = key, expected, value


class _Place:
    """How messages name a key: after a file (``source``) or as a key path (``source`` None)."""

    def __init__(self, source: str | None) -> None:
        self.source = source

    def unknown_key(self, section: str, name: str, allowed: list[str]) -> ConfigError:
        keys = "one of the keys " + ", ".join(allowed)
        if self.source is None:
            return ConfigError(section or "<mapping>", detail=f"unknown key '{name}'", expected=keys,
                               found=repr(name), fix=_FIX_SPELLING)
        where = f"{section}.{name}" if section else name
        return ConfigError(self.source, detail=f"unknown key '{where}'",
                           expected=keys + (f" in section '{section}'" if section else " at the top level"),
                           found=repr(name), fix=_FIX_SPELLING)

    def bad_value(self, mismatch: _Mismatch) -> ConfigError:
        if self.source is None:
            return ConfigError(mismatch.key, expected=mismatch.expected, found=repr(mismatch.value))
        return ConfigError(self.source, detail=f"bad value for '{mismatch.key}'", expected=mismatch.expected,
                           found=repr(mismatch.value))


def _coerce(value: Any, hint: Any, key: str, place: _Place, default: Any = None) -> Any:
    """``value`` checked against ``hint`` and converted (lists -> tuples, int -> float).

    ``default`` is the current value of a dataclass-typed field: a nested mapping fills in
    from it rather than from the class defaults.
    """
    origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if hint is _NONE_TYPE:
        if value is None:
            return None
        raise _Mismatch(key, "null", value)
    if origin in (Union, types.UnionType):
        for arm in typing.get_args(hint):
            try:
                return _coerce(value, arm, key, place, default)
            except _Mismatch:
                continue
        raise _Mismatch(key, describe(hint), value)
    if origin is Literal:
        if value in typing.get_args(hint) and not isinstance(value, bool):
            return value
        raise _Mismatch(key, describe(hint), value)
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise _Mismatch(key, "true or false", value)
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _Mismatch(key, "an integer", value)
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and _EXPONENT_NUMBER.fullmatch(value.strip()):
            return float(value)
        raise _Mismatch(key, "a number", value)
    if hint is str:
        if isinstance(value, str):
            return value
        raise _Mismatch(key, "a string", value)
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, (list, tuple)):
            raise _Mismatch(key, describe(hint), value)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{key}[{i}]", place) for i, v in enumerate(value))
        if len(value) != len(args):
            raise _Mismatch(key, describe(hint), value)
        return tuple(_coerce(v, a, f"{key}[{i}]", place) for i, (v, a) in enumerate(zip(value, args)))
    if origin is dict:
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise _Mismatch(key, "a mapping with string keys", value)
        return dict(value)
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, Mapping):
            raise _Mismatch(key, describe(hint), value)
        return _build(hint, value, key, place, default if isinstance(default, hint) else None)
    raise TypeError(f"unsupported schema type {hint!r} for {key}")  # a bug in the dataclass, never data


def _build(cls: type, mapping: Mapping[str, Any], section: str, place: _Place, defaults: Any) -> Any:
    hints = field_types(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for name in mapping:
        if name not in hints:
            raise place.unknown_key(section, str(name), names)
    values = {}
    for name in names:
        current = getattr(defaults, name) if defaults is not None else None
        if name in mapping:
            key = f"{section}.{name}" if section else name
            values[name] = _coerce(mapping[name], hints[name], key, place, current)
        elif defaults is not None:
            values[name] = current
    return cls(**values)


def build(cls: type[T], mapping: Any, *, source: str | None = None, key: str = "",
          defaults: T | None = None) -> T:
    """An instance of the dataclass ``cls`` from ``mapping``, every key and value checked.

    Args:
        cls: a dataclass (nested dataclass fields are nested mappings).
        mapping: the plain mapping (as loaded from YAML or JSON).
        source: the file (or option) the mapping came from; messages start with it and name
            keys by their dotted path (``'training.epoch'``). None: messages start with the
            key path of the section (``inference.crf: unknown key 'mu3'``).
        key: the key path of ``mapping`` itself ("" for a file's top level, "inference" ...).
        defaults: an instance whose values missing keys keep, nested sections included;
            None: the class defaults.

    Raises:
        ConfigError: not a mapping, an unknown key, a value of the wrong type, or what the
            dataclass's own checks refuse.
    """
    place = _Place(source)
    if not isinstance(mapping, Mapping):
        raise ConfigError(source or key or cls.__name__, expected=describe(cls), found=type(mapping).__name__)
    try:
        return _build(cls, mapping, key, place, defaults)
    except _Mismatch as exc:
        raise place.bad_value(exc) from None


def to_mapping(instance: Any) -> Any:
    """The plain mapping of a dataclass instance (nested mappings, lists rather than tuples)."""
    return _plain(dataclasses.asdict(instance) if dataclasses.is_dataclass(instance) else instance)


def _plain(value: Any) -> Any:
    if isinstance(value, float):
        return float(value)  # numpy's float64 too, which YAML's safe dumper refuses
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
