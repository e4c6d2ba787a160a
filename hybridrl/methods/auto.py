"""Auto: the Adaptive Switch generalised to choose the method (docs/methods.md, "Auto").

Probe exactly as SuperRL §3.3 (k pure-RL steps with ``rl_preset``, thresholds from the
``superrl_*`` options, by batch size when unset), then hand over for the rest of training:

- dense  -> pure RL with ``rl_preset`` (the dense regime of SuperRL Table 2: RL wins);
- sparse -> ``auto_sparse_method`` (default ``hpt``), built from the method registry with
  that method's own option overrides (on a copy of the config; the run's config is never
  mutated).

The decision and its reason are logged every step (``switch_decision``, ``auto/method``,
``auto/reason``).

Parameters and the optimizer: the optimizer is built once, before the first step, from
:meth:`parameters`. So both candidates are constructed eagerly in ``__init__`` (controllers
are cheap: no model) and the sparse candidate's learnable scalars (SuperRL's s_pg, s_sft)
are returned from the start. While probing, or if the dense path is taken, they get no
gradient and AdamW leaves them untouched.

Hand-over: the chosen controller sees a step counter that starts at 0 at the hand-over
(``step − k``, ``total_steps − k``), so e.g. SASR's warm-up and SSR-cosine's schedule cover
the remaining steps. A delegate with its own Adaptive Switch (``superrl``) inherits the
finished probe instead of probing again.
"""

from __future__ import annotations

from dataclasses import dataclass

import copy
import dataclasses
from typing import Any, ClassVar

import torch

from hybridrl.methods.base import Controller, Feedback, Needs, StepContext, StepData, Update
from hybridrl.methods.spec import MethodSpec
from hybridrl.methods.plain import RLController, rollout_term
from hybridrl.methods.superrl import AdaptiveSwitch, SuperRLOptions, _step_reward, probe_warnings


@dataclass
class AutoOptions:
    """Options of ``auto`` (the Adaptive Switch, generalised).

    Config section ``auto`` (its own part of config.yaml); each field is a ``key=value`` of
    ``hybridrl train`` under the same name."""

    section: ClassVar[str] = "auto"

    auto_sparse_method: str = "hpt"
    """Method ``auto`` hands over to when the probe finds sparse rewards (a method name of
    the registry, e.g. ``hpt``, ``superrl``, ``luffy``, ``sasr``); dense -> ``rl_preset``."""


def build_method(config: Any, name: str) -> Controller:
    """The controller of registry method ``name`` with its option overrides applied to a copy
    of ``config``."""
    from hybridrl.methods.registry import method_spec

    if name == "auto":
        raise ValueError("auto_sparse_method cannot be 'auto'")
    spec = method_spec(name)
    cfg = config
    if spec.overrides:
        if dataclasses.is_dataclass(config):
            cfg = dataclasses.replace(config, **spec.overrides)
        else:
            cfg = copy.copy(config)
            for k, v in spec.overrides.items():
                setattr(cfg, k, v)
    return spec.controller(cfg, **spec.kwargs)


class AutoController(Controller):
    """Probe reward density, then pure RL (dense) or ``auto_sparse_method`` (sparse)."""

    def __init__(self, config: Any):
        super().__init__(config)
        self.preset = config.rl_preset
        self.switch = AdaptiveSwitch.from_config(config)
        self.sparse_method = config.auto_sparse_method
        self.dense = RLController(config, preset=config.rl_preset)
        self.sparse = build_method(config, self.sparse_method)
        self.start: int | None = None  # step of the hand-over

    @property
    def delegate(self) -> Controller | None:
        if not self.switch.decided:
            return None
        return self.sparse if self.switch.decision == "sparse" else self.dense

    @property
    def method(self) -> str:
        if not self.switch.decided:
            return "probing"
        return self.sparse_method if self.switch.decision == "sparse" else self.preset

    def _ctx(self, ctx: StepContext) -> StepContext:
        if self.start is None:
            self.start = ctx.step
            other = getattr(self.sparse, "switch", None)
            if self.delegate is self.sparse and isinstance(other, AdaptiveSwitch):
                other.load_state_dict(self.switch.state_dict())  # SuperRL: the probe is done
        return dataclasses.replace(ctx, step=ctx.step - self.start, total_steps=ctx.total_steps - self.start)

    def needs(self, ctx: StepContext) -> Needs:
        d = self.delegate
        return Needs(rollouts=True) if d is None else d.needs(self._ctx(ctx))

    def plan(self, ctx: StepContext, data: StepData) -> list[Update]:
        d = self.delegate
        if d is not None:
            return d.plan(self._ctx(ctx), data)
        self.switch.record(_step_reward(data))
        return [Update([rollout_term("pg", self.preset, data)], kind="rl")]

    def observe(self, ctx: StepContext, feedback: Feedback) -> None:
        d = self.delegate
        if d is not None and self.start is not None:
            d.observe(self._ctx(ctx), feedback)

    # while probing (and on the step the decision is taken) these are the probe's: none.
    # The delegate's updates carry their own weighting (SuperRL's learnable weights).
    def _active(self) -> Controller | None:
        return self.delegate if self.start is not None else None

    def excluded_ids(self) -> set[str]:
        d = self._active()
        return d.excluded_ids() if d is not None else set()

    def parameters(self) -> list[torch.nn.Parameter]:
        return self.sparse.parameters()  # from the start: the optimizer is built once

    def metrics(self) -> dict[str, Any]:
        d = self._active()
        out = dict(d.metrics()) if d is not None else {"sft_fraction": 0.0}
        out.update(self.switch.metrics("auto"))
        out["auto/method"] = self.method
        out["auto/reason"] = self.switch.reason() + (f" -> {self.method}" if self.switch.decided else "")
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"switch": self.switch.state_dict(), "start": self.start,
                "dense": self.dense.state_dict(), "sparse": self.sparse.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.switch.load_state_dict(state["switch"])
        self.start = state["start"]
        self.dense.load_state_dict(state["dense"])
        self.sparse.load_state_dict(state["sparse"])


SPECS = {
    "auto": MethodSpec(AutoController, "probe reward density, then pure RL (dense) or a hybrid (sparse)",
                       "SuperRL Adaptive Switch, generalised", needs_demos=True, options=(SuperRLOptions, AutoOptions),
                       delegates_to="auto_sparse_method", warnings=probe_warnings),
}
