"""Method name -> controller. The loop only ever sees a Controller built here.

Nothing here lists the methods: every module of this package that ends with
``SPECS = {name: MethodSpec(...)}`` is one (docs/design.md §7, "how to add a method"). The
baselines of :mod:`~hybridrl.methods.plain` come first, then the modules by name.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import fields
from types import SimpleNamespace
from typing import Any

import hybridrl.methods as _package
from hybridrl.methods.base import Controller
from hybridrl.methods.spec import MethodSpec

__all__ = ["METHODS", "MethodSpec", "OPTION_CLASSES", "OPTION_OWNERS", "CRITIC_KEYS", "unused_keys", "method_spec",
           "build_controller", "option_owners", "readers", "controller_config", "RUN_FACTS"]


def _collect() -> dict[str, MethodSpec]:
    names = sorted((m.name for m in pkgutil.iter_modules(_package.__path__)), key=lambda n: (n != "plain", n))
    out: dict[str, MethodSpec] = {}
    for name in names:
        for method, spec in getattr(importlib.import_module(f"hybridrl.methods.{name}"), "SPECS", {}).items():
            if method in out:
                raise RuntimeError(f"method '{method}' is declared twice (hybridrl/methods/{name}.py)")
            out[method] = spec
    return out


METHODS: dict[str, MethodSpec] = _collect()


def _option_classes() -> dict[str, type]:
    out: dict[str, type] = {}
    for spec in METHODS.values():
        for cls in spec.options:
            if out.setdefault(cls.section, cls) is not cls:
                raise RuntimeError(f"two options classes call their config section '{cls.section}'")
    return out


OPTION_CLASSES: dict[str, type] = _option_classes()
"""Config section name -> the options dataclass of a method (``hpt`` -> HPTOptions ...)."""

OPTION_OWNERS: dict[str, tuple[str, ...]] = {
    f: tuple(m for m, spec in METHODS.items() if cls in spec.options)
    for cls in OPTION_CLASSES.values() for f in (g.name for g in fields(cls))
}
"""Method option key -> the methods that read it (derived from the specs' ``options``)."""
CRITIC_KEYS = frozenset({"gae_gamma", "gae_lambda", "cliprange_value", "vf_coef", "critic_lr", "critic_detach"})
"""Read only when a critic is trained (``ppo``, or ``rl_preset=ppo``): the ``critic`` section."""


def option_owners(key: str) -> tuple[str, ...] | None:
    """The methods that read ``key``; None for a key every method may read (a general one),
    and ``rl_preset`` is read by the methods with an RL term."""
    if key == "rl_preset":
        return tuple(m for m, spec in METHODS.items() if spec.reads_rl_preset)
    return OPTION_OWNERS.get(key)


RUN_FACTS = ("method", "steps", "seed", "group_size", "prompts_per_step", "rl_preset")
"""What the run tells every controller besides its own options (a controller sees nothing else)."""


def readers(config: Any) -> set[str]:
    """The methods whose options a run reads: its method, and the one it hands over to, if any."""
    get = config.get if isinstance(config, dict) else (lambda k, d=None: getattr(config, k, d))
    method = get("method")
    spec = METHODS.get(method)
    out = {method}
    if spec is not None and spec.delegates_to is not None:
        out.add(get(spec.delegates_to))
    return out


def unused_keys(config: dict[str, Any]) -> set[str]:
    """Keys of ``config`` (a resolved config as a flat dict) that the run's method never reads:
    another method's options, and PPO's critic settings without a critic. Two runs that differ
    only in these keys train the same updates (``compare`` reuses a finished run across them)."""
    mine = readers(config)
    critic = config.get("method") == "ppo" or config.get("rl_preset") == "ppo"
    out = set()
    for key in config:
        owners = OPTION_OWNERS.get(key)
        if owners is not None and not mine & set(owners):
            out.add(key)
        elif key in CRITIC_KEYS and not critic:
            out.add(key)
    return out


def method_spec(name: str) -> MethodSpec:
    if name not in METHODS:
        raise KeyError(f"unknown method '{name}'; choose one of {', '.join(METHODS)}")
    return METHODS[name]


def controller_config(config: Any) -> SimpleNamespace:
    """What a controller is built with: :data:`RUN_FACTS` and the options of the methods the run
    reads (:func:`readers`), under their key names — not the whole config."""
    keys = list(RUN_FACTS)
    for name in readers(config):
        for cls in (METHODS[name].options if name in METHODS else ()):
            keys += [f.name for f in fields(cls)]
    return SimpleNamespace(**{k: getattr(config, k) for k in dict.fromkeys(keys)})


def build_controller(config: Any) -> Controller:
    spec = method_spec(config.method)
    return spec.controller(controller_config(config), **spec.kwargs)
