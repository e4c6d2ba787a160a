"""Values of config keys: the error type, type coercion (YAML / ``key=value`` strings), the
Python-type check, range and choice checks, and :class:`Section`, the base of every section."""

from __future__ import annotations

import types
import typing
from dataclasses import fields
from typing import Any, ClassVar


class ConfigError(ValueError):
    """A bad configuration value, named by key."""


def type_name(tp: Any) -> str:
    """``int``, ``float | None``, ``bool | str`` ... for messages and ``--list-keys``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in typing.get_args(tp))
    return "None" if tp is type(None) else getattr(tp, "__name__", str(tp))


def _coerce_union(key: str, value: Any, args: tuple) -> Any:
    if value is None or (isinstance(value, str) and value.lower() in ("none", "null", "")):
        if type(None) in args:
            return None
    errors = []
    for a in args:
        if a is type(None):
            continue
        try:
            return coerce(key, value, a)
        except ConfigError as e:
            errors.append(str(e))
    raise ConfigError(errors[0] if errors else f"config key '{key}': bad value {value!r}")


def _coerce_number(key: str, value: Any, tp: type) -> Any:
    what = "an integer" if tp is int else "a number"
    if isinstance(value, bool):
        raise ConfigError(f"config key '{key}': expected {what}, got {value!r}")
    if tp is int and isinstance(value, int) or tp is float and isinstance(value, (int, float)):
        return tp(value)
    if tp is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return tp(value)
        except ValueError:
            pass
    raise ConfigError(f"config key '{key}': expected {what}, got {value!r}")


def coerce(key: str, value: Any, tp: Any) -> Any:
    """Convert ``value`` (from YAML or a ``key=value`` string) to ``tp`` or raise ConfigError."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return _coerce_union(key, value, typing.get_args(tp))
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ConfigError(f"config key '{key}': expected true/false, got {value!r}")
    if tp in (int, float):
        return _coerce_number(key, value, tp)
    if tp is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"config key '{key}': expected a string, got {value!r}")
    raise ConfigError(f"config key '{key}': unsupported type {tp}")


def check_python_type(key: str, value: Any, tp: Any) -> Any:
    """Python API: the value must already have the field's type (``steps="2"`` is refused,
    as a typo would be; ints are accepted for floats). Returns the value (ints made floats)."""
    if key == "reward_fn" and callable(value):
        return value  # a Python callable (recorded by name in config.yaml)
    origin = typing.get_origin(tp)
    allowed = typing.get_args(tp) if origin in (typing.Union, types.UnionType) else (tp,)
    if value is None and type(None) in allowed:
        return None
    for a in allowed:
        if a is bool and isinstance(value, bool):
            return value
        if a is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if a is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if a is str and isinstance(value, str):
            return value
    raise ConfigError(f"config key '{key}': expected {type_name(tp)}, got {value!r} ({type(value).__name__})")


def require(cond: bool, key: str, msg: str, value: Any) -> None:
    if not cond:
        raise ConfigError(f"config key '{key}': {msg}, got {value!r}")


def suggest_from(value: Any, choices: Any) -> str:
    import difflib

    close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def check_choices(obj: Any, choices: dict[str, tuple]) -> None:
    """Each ``key`` of ``choices`` holds one of its allowed values (a suggestion if not)."""
    for key, allowed in choices.items():
        v = getattr(obj, key)
        if v not in allowed:
            raise ConfigError(f"config key '{key}': unknown {key.replace('_', ' ')} '{v}'"
                              f"{suggest_from(v, allowed)}; choose {', '.join(allowed[:-1])} or {allowed[-1]}")


def check_section(obj: Any) -> None:
    """Type-check every field of a section (a dataclass) in place, then its choices
    (``choices`` class attribute) and its own ``check()``, if it has them."""
    hints = typing.get_type_hints(type(obj))
    for f in fields(obj):
        setattr(obj, f.name, check_python_type(f.name, getattr(obj, f.name), hints[f.name]))
    check_choices(obj, getattr(obj, "choices", {}))
    if hasattr(obj, "check"):
        obj.check()


class Section:
    """Base of the general config sections (dataclasses whose fields are config keys): built,
    a section checks its own values (types, ``choices``, ``check``). Method options are plain
    dataclasses in their method's module, checked the same way by the config that holds them."""

    section: ClassVar[str] = ""
    choices: ClassVar[dict[str, tuple]] = {}

    def __post_init__(self) -> None:
        check_section(self)

    def check(self) -> None:
        """Range checks of this section's values (override)."""
