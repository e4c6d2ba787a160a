"""The controller interface: a method is a small stateful object over the one loop.

The loop (``hybridrl.training.loop.trainer``) never branches on a method's name. Each step it asks
the controller what it needs (rollouts? demonstrations?), hands it the scored rollouts,
and receives a list of :class:`Update` s, each a list of :class:`LossTerm` s. Every term
is turned into a per-token loss by an estimator preset (``hybridrl.core.presets``) and
reduced by the one aggregation function (``hybridrl.core.aggregation.agg_loss``); the
update's loss is ``sum_k weight_k * L_k + regularizer`` with the weights and regularizer of
the update's own :class:`Weighting` (``Update.weighting``: constants, or learnable
parameters as in SuperRL), so a controller that changes its weights between the updates of
one step says so in the plan it returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import torch

from hybridrl.rollout.prefix import PrefixPlan
from hybridrl.schema import Row
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
    reset_reference: bool = False
    """Copy the current policy into the frozen KL reference before this step (SFT→RL)."""
    demo_prefix: PrefixPlan | None = None
    """start each prompt's rollouts from prompt + a prefix of its demonstration, as
    many sections as the plan draws (UFT; ``hybridrl.rollout.prefix``). None = plain prompts."""


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
    norm_group: str | None = None
    """Terms of one update with the same group share one normaliser: the token and sequence
    counts ``agg_loss`` divides by are summed over the group's terms (all micro-batches, all
    processes), so the group is reduced as if it were one term over the mixed batch (LUFFY's
    official ``Σ tokens / max_len`` over on- and off-policy samples). None = the term alone."""
    seq_counts: torch.Tensor | None = None
    """(K,) float: how much each sequence adds to the sequence count ``num_seqs`` its
    normaliser divides by; None = 1 each. HPT's one-question-one-vote balance gives each of a
    question's sequences 1 / (its number of sequences), so the count is the number of
    questions, whatever the split into micro-batches, mini-batches or processes."""
    rows: list[Row] | None = None
    """``demo`` terms only: the rows ``indices`` index, when they are not this step's (ReLIFT's
    buffer of earlier prompts). None = ``StepData.rows``."""
    demo_lengths: torch.Tensor | None = None
    """``demo`` terms only: (K,) long, train on the first ``demo_lengths[k]`` tokens of each
    demonstration only (UFT's prefix). None = the whole demonstration."""


@runtime_checkable
class Weighting(Protocol):
    """How the terms of one update combine: ``loss = Σ_k weight(k) · L_k + regularizer()``.

    The loop calls :meth:`weight` for every micro-batch and :meth:`regularizer` once per
    optimizer step, and uses each result for one backward: a learnable weight builds its
    graph afresh on each call (e.g. ``exp(-2 s)`` of a Parameter ``s``), since a backward
    frees the graph it ran through.
    """

    def weight(self, name: str) -> torch.Tensor | float:
        """Weight of the term called ``name`` (L_k includes its KL penalty and entropy bonus)."""
        ...

    def regularizer(self) -> torch.Tensor | None:
        """Added once per optimizer step (e.g. SuperRL's ``s_pg + s_sft``); None = nothing."""
        ...


class ConstantWeights(dict):
    """Constant weights by term name (missing names weigh 1), no regularizer: the default.

    ``ConstantWeights({"sft": 0.1})`` is HPT's Mix/ON weighting (0.1 · SFT + 1.0 · off-policy).
    """

    def weight(self, name: str) -> float:
        return float(self.get(name, 1.0))

    def regularizer(self) -> None:
        return None


@dataclass
class Update:
    """One optimizer step's worth of loss terms."""

    terms: list[LossTerm]
    kind: str = "rl"
    """Label for logs and feedback: ``sft``, ``rl`` or ``hybrid``."""
    weighting: Weighting = field(default_factory=ConstantWeights)
    """How the terms combine (default: all weights 1, no regularizer)."""
    optimizer_state: str | None = None
    """step the run's optimizer with a separate, named state for this update (its own
    AdamW moments, as ReLIFT's second SFT optimizer; ``training/update/optimizer_states.py``). None = shared."""


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

    def excluded_ids(self) -> set[str]:
        """Row ids the prompt sampler should skip from now on (HPT's removal of SFT-ed questions)."""
        return set()

    def parameters(self) -> list[torch.nn.Parameter]:
        """Learnable loss weights, trained by the same optimizer as the model."""
        return []

    def presets(self) -> set[str]:
        """Estimator presets this controller's terms may use besides fixed ones (the loop
        trains a value head when one of them needs a critic, e.g. ``rl_preset=ppo``).
        Default: the controller's ``preset`` attribute, if it has one."""
        preset = getattr(self, "preset", None)
        return {preset} if isinstance(preset, str) else set()

    def weighting_of(self, update: Update) -> Weighting:
        """The weighting the loop uses for ``update``: the update's own (a controller whose
        weights change between the updates of one step says so in the plan it returns)."""
        return update.weighting

    # -- logging and resume ----------------------------------------------------------
    def metrics(self) -> dict[str, Any]:
        """Controller state logged every step (``sigma_pg``, ``sasr_p``, ...)."""
        return dict(self._metrics)

    def state_dict(self) -> dict[str, Any]:
        return {"metrics": dict(self._metrics)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._metrics = dict(state.get("metrics", {}))

