"""The controller interface: a method is a small stateful object over the one loop.

The loop (``hybridrl.train.loop``) never branches on a method's name. Each step it asks
the controller what it needs (rollouts? demonstrations?), hands it the scored rollouts,
and receives a list of :class:`Update` s, each a list of :class:`LossTerm` s. Every term
is turned into a per-token loss by an estimator preset (``hybridrl.core.presets``) and
reduced by the one aggregation function (``hybridrl.core.aggregation.agg_loss``); the
update's loss is ``sum_k weight_k * L_k + regularizer`` with weights from
:meth:`Controller.loss_weights` (constants, or learnable parameters as in SuperRL).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from hybridrl.data.schema import Row
from hybridrl.rollout.types import RolloutBatch


@dataclass
class StepContext:
    """Where the run stands when a step starts."""

    step: int
    """0-based index of this optimizer step (across the whole run)."""
    total_steps: int
    epoch: int
    """0-based data epoch of this step's prompts."""
    steps_per_epoch: int


@dataclass
class Needs:
    """What the controller needs the loop to produce for this step."""

    rollouts: bool = True
    """Sample completions for the step's prompts and score them."""
    rollouts_per_prompt: int | None = None
    """Completions per prompt; None = the configured group size (LUFFY asks for n - n_off)."""
    demos: bool = False
    """The step's demonstrations will be trained on (SFT / off-policy terms)."""
    reset_reference: bool = False
    """Copy the current policy into the frozen KL reference before this step (SFT→RL)."""


@dataclass
class StepData:
    """What the loop hands the controller after sampling and scoring."""

    rows: list[Row]
    """The P prompts of this step (each with ``demonstration`` when the data has one)."""
    rollouts: RolloutBatch | None
    """N = P * k completions (None when ``Needs.rollouts`` was False)."""
    rewards: torch.Tensor | None
    """(N,) float: verifier score per completion."""
    correct: torch.Tensor | None
    """(N,) bool: exact-match correctness per completion."""
    batch_reward_mean: float | None = None
    """Mean reward over the whole step batch, all processes (controllers that react to
    batch statistics, e.g. the Adaptive Switch, use this so every rank decides alike)."""


@dataclass
class LossTerm:
    """One group of sequences trained with one estimator preset."""

    name: str
    """Metric name: the loop logs ``{name}_loss`` (``pg``, ``sft``, ``off``)."""
    preset: str
    """Estimator preset (``hybridrl.core.presets.PRESETS``), e.g. ``grpo``, ``sft``."""
    source: Literal["rollout", "demo"]
    """``rollout``: ``indices`` index the step's completions; ``demo``: they index
    ``StepData.rows`` and the sequence is the row's demonstration."""
    indices: torch.Tensor
    """(K,) long: which sequences this term trains."""
    advantages: torch.Tensor | None = None
    """(K,) float per-sequence advantage; None = the preset's own (1 for SFT; GAE for PPO,
    computed by the loop from the critic)."""
    seq_weights: torch.Tensor | None = None
    """(K,) float per-sequence weight multiplied into the per-token loss before
    aggregation (HPT feedback functions alpha(P), beta(P)); None = 1."""


@dataclass
class Update:
    """One optimizer step's worth of loss terms."""

    terms: list[LossTerm]
    kind: str = "rl"
    """Label for logs and feedback: ``sft``, ``rl`` or ``hybrid``."""


@dataclass
class Feedback:
    """What the loop reports back after each update."""

    kind: str
    grad_norm: float
    """Total gradient norm before clipping (SASR uses it for SFT updates)."""
    term_losses: dict[str, float] = field(default_factory=dict)
    skipped: bool = False
    """True when the update was skipped (non-finite loss or gradient)."""


class Controller:
    """Base class. Subclasses override :meth:`needs` and :meth:`plan`; the rest has
    sensible defaults (constant unit weights, no learnable parameters, no state)."""

    def __init__(self, config: Any):
        self.config = config
        self._metrics: dict[str, Any] = {}
        """What :meth:`plan` reports about the last step; logged and checkpointed by default."""

    # -- per step --------------------------------------------------------------------
    def needs(self, ctx: StepContext) -> Needs:
        return Needs()

    def plan(self, ctx: StepContext, data: StepData) -> list[Update]:
        raise NotImplementedError

    def observe(self, ctx: StepContext, feedback: Feedback) -> None:
        """Called after each update of the step, in order."""

    # -- how terms combine -----------------------------------------------------------
    def loss_weights(self) -> dict[str, torch.Tensor | float]:
        """Weight of each term name in the update loss (missing names weigh 1)."""
        return {}

    def regularizer(self) -> torch.Tensor | None:
        """Added once per update (e.g. SuperRL's ``s_pg + s_sft``)."""
        return None

    def excluded_ids(self) -> set[str]:
        """Row ids the prompt sampler should skip from now on (HPT's removal of SFT-ed questions)."""
        return set()

    def parameters(self) -> list[torch.nn.Parameter]:
        """Learnable loss weights, trained by the same optimizer as the model."""
        return []

    # -- logging and resume ----------------------------------------------------------
    def metrics(self) -> dict[str, Any]:
        """Controller state logged every step (``sigma_pg``, ``sasr_p``, ...)."""
        return dict(self._metrics)

    def state_dict(self) -> dict[str, Any]:
        return {"metrics": dict(self._metrics)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._metrics = dict(state.get("metrics", {}))
