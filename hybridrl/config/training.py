"""Sections of how a step trains: the batch, the loss, the critic, the optimizer, the reward.
Each field is a config key (``key=value``, a YAML key, a ``TrainConfig`` argument)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from hybridrl.config.values import Section, require


@dataclass
class BatchSection(Section):
    """How many prompts and completions a step takes and how they are split into passes and
    optimizer steps (splitting never changes the update: docs/design.md §1)."""

    section: ClassVar[str] = "batch"
    choices: ClassVar[dict[str, tuple]] = {"old_logprobs": ('current', 'sampling'), "micro_batch_order": ('given', 'length')}

    prompts_per_step: int = 8
    """Prompts drawn per step (global, over all processes)."""
    group_size: int = 8
    """Completions sampled per prompt (GRPO's G; HPT's n)."""
    micro_batch_size: int = 8
    """Sequences per forward/backward pass; gradients are accumulated (the loss is exact)."""
    num_iterations: int = 1
    """Updates per generated batch (μ in GRPO); >1 reuses the batch with importance ratios."""
    mini_batches: int = 1
    """Optimizer steps per generated batch (TRL ``steps_per_generation``, verl's
    ``ppo_mini_batch_size`` as a count): each update's terms are split by whole prompts into this
    many mini-batches, one optimizer step each (μ = ``num_iterations`` passes over each), every
    mini-batch normalised by its own counts, and the PPO ratio's denominator is the policy that
    sampled (log-probs of all mini-batches are computed before the first step, as verl's
    compute_log_prob). The official HPT runs split 128 prompts into 2 mini-batches of 64."""
    old_logprobs: str = "current"
    """Denominator of the PPO ratio: ``current`` (the policy before this step's first update,
    recomputed in the first pass, as TRL) or ``sampling`` (the generator's log-probs)."""
    skip_zero_advantage: bool = True
    """Skip the forward/backward of a micro-batch whose advantages are all zero (every group in
    it all-right or all-wrong) when nothing else in its loss has a gradient (no KL, entropy bonus
    or value loss): its gradient is exactly zero, so the update is the same, only cheaper.
    Under sparse rewards most RL micro-batches are such. Their tokens are then missing from the
    logged ``entropy``; ``update/skipped_microbatches`` counts them. Put micro_batch_size = a
    multiple of group_size so a micro-batch holds whole groups."""
    micro_batch_order: str = "given"
    """How a term's sequences form micro-batches: ``given`` (in the batch's order: prompt-major
    rollouts, one group after another) or ``length`` (sorted by prompt + completion length, so each
    forward pads less; sequences with all-zero advantages first, so they still fill the micro-batches
    ``skip_zero_advantage`` skips). The loss is normalised by global counts, so the update is the same
    up to float summation order; ``update/padding_share`` shows the padding either way."""

    def check(self) -> None:
        for key in ("prompts_per_step", "group_size", "micro_batch_size", "num_iterations"):
            require(getattr(self, key) >= 1, key, "must be >= 1", getattr(self, key))


@dataclass
class LossSection(Section):
    """The estimator of the RL term and the regularisers every term shares (KL, entropy), and
    the SFT terms' token weighting."""

    section: ClassVar[str] = "loss"
    choices: ClassVar[dict[str, tuple]] = {"kl_estimator": ('k1', 'k2', 'k3'), "sft_loss_type": ('nll', 'dft')}

    rl_preset: str = "grpo"
    """Estimator preset for the RL term of methods that don't fix one (``grpo``, ``dapo`` ...)."""
    loss_agg_mode: str | None = None
    """Override every term's aggregation (``token-mean`` ...); None = each preset's own."""
    eps_low: float | None = None
    """Lower PPO clip range; None = the preset's paper value (GSPO 3e-4, else 0.2)."""
    eps_high: float | None = None
    """Upper clip range (DAPO clip-higher: 0.28); None = the preset's paper value, else ``eps_low``."""
    dual_clip_c: float | None = None
    """Dual-clip PPO bound c > 1 on negative-advantage ratios (None = off)."""
    shaping_gamma: float = 0.1
    """LUFFY policy shaping f(π) = π/(π+γ)."""
    beta: float = 0.0
    """KL-to-reference coefficient, >= 0 (0 = no reference model; SuperRL used 0.001). TRL's
    ``beta``; verl's ``kl_coef`` / ``kl_loss_coef`` are accepted as aliases. Not HPT's β (the
    SFT weight g(P), see ``hpt_alpha_fn``)."""
    kl_estimator: str = "k3"
    """KL-to-reference estimator: ``k1``, ``k2`` or ``k3`` (Schulman's unbiased, low-variance one)."""
    entropy_coef: float = 0.0
    """Entropy bonus on rollout tokens (HPT's code: 0.001)."""
    sft_loss_type: str = "nll"
    """Token weighting of the SFT terms (presets ``sft``, ``srft_sft``, ``hpt_sft_official``, UFT's
    prefix term): ``nll`` (the plain NLL, every paper here) or ``dft``: each demonstration token's
    NLL weighted by sg(p_t), its own detached probability (Dynamic Fine-Tuning, Wu et al. 2025;
    TRL ``SFTConfig(loss_type="dft")``; Trinity-RFT's ``sft_is``). Reduced as before (the weights
    do not change the normaliser). CHORD's φ term fixes its own weighting (``chord_phi``)."""

    def check(self) -> None:
        for key in ("beta", "entropy_coef"):
            require(getattr(self, key) >= 0, key, "must be >= 0", getattr(self, key))
        for key in ("eps_low", "eps_high", "shaping_gamma"):
            v = getattr(self, key)
            require(v is None or v > 0, key, "must be > 0", v)
        require(self.dual_clip_c is None or self.dual_clip_c > 1, "dual_clip_c", "must be > 1 (dual-clip PPO)", self.dual_clip_c)


@dataclass
class CriticSection(Section):
    """PPO's value head (read only when a critic is trained: ``ppo``, or ``rl_preset=ppo``)."""

    section: ClassVar[str] = "critic"

    vf_coef: float = 0.1
    """PPO value-loss coefficient (with the detached critic it only scales the critic's own
    gradient, which AdamW normalises away)."""
    gae_gamma: float = 1.0
    """PPO: GAE discount γ in [0, 1] (verl's and the official HPT PPO config's 1.0)."""
    gae_lambda: float = 1.0
    """PPO: GAE λ in [0, 1] (verl's and the official HPT PPO config's 1.0: with a critic that
    starts at 0, λ = 0.95 gives the first of 100 tokens A ≈ 0.006 of the last's)."""
    cliprange_value: float = 0.5
    """PPO: clip range of the value loss (> 0; verl's ``critic.cliprange_value`` 0.5)."""
    critic_lr: float | None = 1.0e-3
    """PPO: the critic's own AdamW learning rate (None = ``lr``). The critic is a linear value
    head on the policy's detached last hidden state (``critic_detach``): a head alone moves
    ≈ lr per weight per step, so verl's 1e-5 for a whole critic model would leave it at its
    zero start (measured on the tiny model: docs/methods.md, PPO)."""
    critic_detach: bool = True
    """PPO: keep the value loss out of the policy's weights (the head reads the hidden state
    detached; verl and SuperRL C.7 train a separate critic). False = the value loss also
    trains the shared trunk (the behaviour before this option)."""

    def check(self) -> None:
        require(self.vf_coef >= 0, "vf_coef", "must be >= 0", self.vf_coef)
        require(self.cliprange_value is None or self.cliprange_value > 0, "cliprange_value", "must be > 0", self.cliprange_value)
        require(self.critic_lr is None or self.critic_lr > 0, "critic_lr", "must be > 0", self.critic_lr)
        for key in ("gae_gamma", "gae_lambda"):
            require(0 <= getattr(self, key) <= 1, key, "must be in [0, 1]", getattr(self, key))


@dataclass
class OptimizerSection(Section):
    """AdamW and its learning-rate schedule, gradient clipping."""

    section: ClassVar[str] = "optimizer"
    choices: ClassVar[dict[str, tuple]] = {"lr_scheduler": ('constant', 'cosine')}

    lr: float = 1e-6
    """AdamW learning rate (TRL's GRPO default; HPT used 5e-6 on 7B models)."""
    weight_decay: float = 0.0
    """AdamW decoupled weight decay (>= 0)."""
    warmup_steps: int = 0
    """Linear learning-rate warm-up, in steps (must be < ``steps`` to finish)."""
    lr_scheduler: str = "constant"
    """``constant`` or ``cosine`` (after warm-up)."""
    max_grad_norm: float = 1.0
    """Gradient clipping (0 disables). ``grad_norm`` is logged before clipping."""

    def check(self) -> None:
        require(self.lr > 0, "lr", "must be > 0", self.lr)
        for key in ("weight_decay", "warmup_steps", "max_grad_norm"):
            require(getattr(self, key) >= 0, key, "must be >= 0", getattr(self, key))


@dataclass
class RewardSection(Section):
    """How completions are scored (default: the task's verifier)."""

    section: ClassVar[str] = "reward"

    reward_fn: str | None = None
    """User reward ``module:function`` (completion, row) -> float; replaces the verifier."""
    reward_timeout: float = 2.0
    """Seconds per sample; time-outs score 0 and are counted."""

    def check(self) -> None:
        require(self.reward_timeout is None or self.reward_timeout > 0, "reward_timeout", "must be > 0", self.reward_timeout)
