"""What a method module declares about itself: :class:`MethodSpec`.

Each ``hybridrl/methods/<module>.py`` ends with ``SPECS = {name: MethodSpec(...)}``; the
registry (:mod:`hybridrl.methods.registry`) collects them, and the config builds one section
per options dataclass a spec names. Nothing else lists the methods.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(frozen=True)
class MethodSpec:
    controller: type
    """The controller class (a :class:`~hybridrl.methods.base.Controller`)."""
    doc: str
    paper: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    """Constructor keyword arguments (e.g. the RL preset)."""
    overrides: dict[str, Any] = field(default_factory=dict)
    """Config values this method name fixes (e.g. superrl_theta -> superrl_variant=theta)."""
    needs_demos: bool = False
    """Fails before the model loads when the data has no demonstrations."""
    uses_group_baseline: bool = True
    """Needs group_size >= 2."""
    critic: bool = False
    """Train a value head (PPO): the loop computes GAE for presets whose advantage is ``gae``."""
    options: tuple[type, ...] = ()
    """The options dataclasses this method reads (each one config section, whose fields are
    ``key=value`` overrides). A key of a section no spec of the run's method names is another
    method's: warned about when set, ignored when ``compare`` decides whether a run is the same."""
    reads_rl_preset: bool = True
    """Whether the method has an RL term whose estimator ``rl_preset`` chooses."""
    delegates_to: str | None = None
    """An option key naming another method this one hands over to (``auto``:
    ``auto_sparse_method``): that method's options are read too."""
    warnings: Callable[[Any], list[str]] | None = None
    """``warnings(config) -> [line]``: schedules of this method that cannot take effect within
    the run's ``steps`` (said before the run starts, not refused)."""
