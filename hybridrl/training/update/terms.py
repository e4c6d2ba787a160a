"""One loss term's forward/backward: sequences -> per-token losses -> one aggregation.

This is where the controller's plan meets the estimator. For each :class:`LossTerm` the
sequences are built (rollout completions, or demonstrations after their prompt), split
into micro-batches, and each micro-batch contributes

    w_k · agg_loss(per_token_loss, mask, mode, num_tokens=N, num_seqs=S)  (+ β·KL − c·H, + c_v·V)

where N / S are the term's normaliser counts over the whole optimizer step (all
micro-batches, all processes; summed over its ``norm_group`` when it has one). Summing the
micro-batch gradients therefore gives exactly the gradient of the whole-batch loss, whatever
the micro-batch size or the number of processes.

Departures from the usual trainer (TRL, verl), on purpose:

- **Per-term normalisers with global counts.** Each term (SFT, on-policy RL, off-policy RL)
  is reduced by its own mode (``Preset.agg_mode``) with counts summed over every micro-batch
  and process before the first backward, instead of one loss mean per micro-batch scaled by
  the number of accumulation steps: micro-batching never changes the update.
- **The zero-advantage skip.** A micro-batch whose advantages are all zero, and whose loss has
  no other part with a gradient (KL, entropy bonus, value loss, entropy-weighted presets), is
  not run at all: its gradient is exactly zero (``skip_zero_advantage``; logged as
  ``update/skipped_microbatches``).
- **Frozen denominators per sequence.** The PPO denominator (π_θold) and the KL reference
  log-probs are computed at the first pass over each sequence and kept for the μ iterations
  (and for later mini-batches when a pre-pass computed them up front).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch

from hybridrl.core.advantages import gae_advantages
from hybridrl.core.aggregation import agg_loss
from hybridrl.core.presets import Preset, get_preset, term_loss
from hybridrl.core.regularizers import kl_penalty, value_loss
from hybridrl.methods.base import LossTerm, Weighting
from hybridrl.rollout.correction import logprob_mismatch, rollout_is_weights
from hybridrl.rollout.logprobs import sequence_logprobs
from hybridrl.rollout.types import RolloutBatch


@dataclass
class Sequences:
    """K training sequences: prompt ``prompt_ids[prompt_index[k]]`` + ``completion_ids[k]``."""

    prompt_ids: list[list[int]]
    prompt_index: torch.Tensor  # (K,) long
    completion_ids: torch.Tensor  # (K, T) long, right-padded
    mask: torch.Tensor  # (K, T) float
    sampling_logprobs: torch.Tensor | None  # (K, T) or None (demonstrations)
    rewards: torch.Tensor | None  # (K,) terminal rewards (for GAE) or None

    def __len__(self) -> int:
        return int(self.completion_ids.shape[0])

    def to(self, device: torch.device) -> "Sequences":
        """The same sequences with their tensors on ``device`` (the model's: CUDA training)."""
        def move(x: torch.Tensor | None) -> torch.Tensor | None:
            return None if x is None else x.to(device)

        return Sequences(self.prompt_ids, self.prompt_index.to(device), self.completion_ids.to(device),
                         self.mask.to(device), move(self.sampling_logprobs), move(self.rewards))

    def slice(self, sl: slice | torch.Tensor) -> "Sequences":
        return Sequences(
            self.prompt_ids,
            self.prompt_index[sl],
            self.completion_ids[sl],
            self.mask[sl],
            None if self.sampling_logprobs is None else self.sampling_logprobs[sl],
            None if self.rewards is None else self.rewards[sl],
        )


def rollout_sequences(rollouts: RolloutBatch, rewards: torch.Tensor, idx: torch.Tensor) -> Sequences:
    return Sequences(
        rollouts.prompt_ids,
        rollouts.prompt_index[idx],
        rollouts.completion_ids[idx],
        rollouts.completion_mask[idx].float(),
        rollouts.logprobs[idx] if rollouts.has_logprobs else None,
        rewards[idx].float(),
    )


def demo_sequences(prompt_ids: list[list[int]], demo_ids: list[list[int]], idx: torch.Tensor,
                   lengths: torch.Tensor | None = None) -> Sequences:
    """Demonstrations of rows ``idx``: ``prompt_ids[i]`` / ``demo_ids[i]`` are per row.
    ``lengths`` (K,): keep only the first ``lengths[k]`` tokens of the k-th (a prefix, UFT)."""
    rows = idx.tolist()
    cut = [len(demo_ids[i]) if lengths is None else min(int(lengths[k]), len(demo_ids[i])) for k, i in enumerate(rows)]
    T = max(cut, default=1)
    ids = torch.zeros(len(rows), T, dtype=torch.long)
    mask = torch.zeros(len(rows), T)
    for k, i in enumerate(rows):
        d = demo_ids[i][: cut[k]]
        ids[k, : len(d)] = torch.tensor(d, dtype=torch.long)
        mask[k, : len(d)] = 1.0
    return Sequences(prompt_ids, idx.clone(), ids, mask, None, torch.ones(len(rows)))


@dataclass(frozen=True)
class LossSettings:
    """The loss hyper-parameters the update needs, taken from the config sections that hold them
    (same names, same meaning; see their docstrings) by :meth:`of`."""

    temperature: float
    eps_low: float | None
    eps_high: float | None
    dual_clip_c: float | None
    shaping_gamma: float
    loss_agg_mode: str | None
    max_len: int
    """Dr. GRPO's constant normaliser: ``max_new_tokens``."""
    beta: float
    kl_estimator: str
    entropy_coef: float
    vf_coef: float
    gae_gamma: float
    gae_lambda: float
    cliprange_value: float
    micro_batch_size: int
    old_logprobs: str
    autocast: Callable[[], Any]
    """A context manager factory (bf16 autocast or a null context)."""
    skip_zero_advantage: bool = True
    micro_batch_order: str = "given"
    """``given`` or ``length`` (:func:`micro_batches`)."""
    critic_detach: bool = True
    """The value head reads the policy's hidden state detached: the value loss trains the head only."""
    vllm_importance_sampling_correction: bool = False
    """Truncated importance sampling: weight rollout tokens by the ratio π_θold / π_sampler
    (``hybridrl.rollout.correction.rollout_is_weights``)."""
    vllm_importance_sampling_mode: str = "token_truncate"
    vllm_importance_sampling_clip_max: float = 3.0
    sft_loss_type: str = "nll"
    """token weighting of SFT terms, ``nll`` or ``dft`` (``core.token_weights``)."""

    @classmethod
    def of(cls, loss: Any, critic: Any, batch: Any, rollout: Any, autocast: Callable[[], Any]) -> "LossSettings":
        """From the config sections it reads: ``loss``, ``critic``, ``batch`` (micro-batching, the
        PPO ratio's denominator) and ``rollout`` (the sampling temperature and length, the
        rollout importance-sampling correction)."""
        return cls(
            temperature=rollout.temperature, max_len=rollout.max_new_tokens,
            vllm_importance_sampling_correction=rollout.vllm_importance_sampling_correction,
            vllm_importance_sampling_mode=rollout.vllm_importance_sampling_mode,
            vllm_importance_sampling_clip_max=rollout.vllm_importance_sampling_clip_max,
            eps_low=loss.eps_low, eps_high=loss.eps_high, dual_clip_c=loss.dual_clip_c, shaping_gamma=loss.shaping_gamma,
            loss_agg_mode=loss.loss_agg_mode, beta=loss.beta, kl_estimator=loss.kl_estimator,
            entropy_coef=loss.entropy_coef, sft_loss_type=loss.sft_loss_type,
            vf_coef=critic.vf_coef, gae_gamma=critic.gae_gamma, gae_lambda=critic.gae_lambda,
            cliprange_value=critic.cliprange_value, critic_detach=critic.critic_detach,
            micro_batch_size=batch.micro_batch_size, old_logprobs=batch.old_logprobs,
            skip_zero_advantage=batch.skip_zero_advantage, micro_batch_order=batch.micro_batch_order,
            autocast=autocast)

    @classmethod
    def from_config(cls, cfg: Any, autocast: Callable[[], Any]) -> "LossSettings":
        """From a whole :class:`~hybridrl.config.TrainConfig` (where the trainer is assembled)."""
        return cls.of(cfg.loss, cfg.critic, cfg.batch, cfg.rollout, autocast)


class Counts(NamedTuple):
    """The counts a term's ``agg_loss`` divides by."""

    tokens: float
    seqs: float


@dataclass
class GAETargets:
    """What the critic pre-pass (PPO) gives a term: all (K, T), 0 at padding."""

    advantages: torch.Tensor
    """GAE advantages whitened over the term's real tokens."""
    returns: torch.Tensor
    old_values: torch.Tensor
    """Critic values before the update (the clipped value loss's anchor)."""


class FrozenLogprobs:
    """Per-sequence log-probs frozen at their first computation, (K, T): the PPO denominator
    π_θold or the KL reference, reused by every later pass (μ iterations, mini-batches)."""

    def __init__(self, num_seqs: int):
        self.values: torch.Tensor | None = None
        self.known = torch.zeros(num_seqs, dtype=torch.bool)

    def get(self, sl: slice | torch.Tensor, compute: Callable[[], torch.Tensor]) -> torch.Tensor:
        if not bool(self.known[sl].all()):
            new = compute().detach()
            if self.values is None:
                self.values = new.new_zeros((len(self.known), *new.shape[1:]))
            self.values[sl] = new
            self.known[sl] = True
        return self.values[sl]

    def select(self, idx: torch.Tensor) -> "FrozenLogprobs":
        """The rows ``idx`` (a copy: a mini-batch's view of the whole batch's denominators)."""
        out = FrozenLogprobs(len(idx))
        out.known = self.known[idx].clone()
        out.values = None if self.values is None else self.values[idx].clone()
        return out


@dataclass
class TermState:
    """One term of one optimizer update: its sequences, normaliser and pre-pass results.

    Every field keeps one meaning for the life of the update: ``local`` counts are this
    process's, ``norm`` the global ones the loss divides by; the term's own advantages stay in
    ``term.advantages`` and a critic's in ``gae``.
    """

    term: LossTerm
    seqs: Sequences
    norm: Counts
    """Global counts (all processes; summed over the term's ``norm_group``)."""
    preset: Preset = field(init=False)
    local: Counts = field(init=False)
    """This process's counts of this term."""
    gae: GAETargets | None = None
    """Set by the critic pre-pass for presets whose advantage is ``gae``."""
    old_logp: FrozenLogprobs = field(init=False)
    ref_logp: FrozenLogprobs = field(init=False)

    entropy_tokens: float | None = None
    """Global real-token count of this term alone (all processes, not its ``norm_group``):
    the entropy bonus is a token mean over it. None = ``norm.tokens``."""

    def __post_init__(self) -> None:
        self.preset = get_preset(self.term.preset)
        self.local = Counts(float(self.seqs.mask.sum()), seq_count(self.term))
        self.old_logp = FrozenLogprobs(len(self.seqs))
        self.ref_logp = FrozenLogprobs(len(self.seqs))

    @property
    def on_policy(self) -> bool:
        return self.term.source == "rollout"

    def select(self, idx: torch.Tensor, norm: Counts, entropy_tokens: float | None = None) -> "TermState":
        """The same term restricted to its sequences ``idx`` (a mini-batch), normalised by
        ``norm`` (its entropy bonus by ``entropy_tokens``); pre-pass results and frozen
        denominators are those of the whole batch."""
        def rows(x: torch.Tensor | None) -> torch.Tensor | None:
            return None if x is None else x[idx]

        term = dataclasses.replace(self.term, indices=self.term.indices[idx], advantages=rows(self.term.advantages),
                                   seq_weights=rows(self.term.seq_weights), seq_counts=rows(self.term.seq_counts))
        sub = TermState(term, self.seqs.slice(idx), norm, entropy_tokens=entropy_tokens)
        if self.gae is not None:
            sub.gae = GAETargets(self.gae.advantages[idx], self.gae.returns[idx], self.gae.old_values[idx])
        sub.old_logp, sub.ref_logp = self.old_logp.select(idx), self.ref_logp.select(idx)
        return sub

    def advantages(self, sl: slice | torch.Tensor) -> torch.Tensor | None:
        """Â of the sequences ``sl``: the critic's GAE when there is one, else the term's."""
        if self.gae is not None:
            return self.gae.advantages[sl]
        return None if self.term.advantages is None else self.term.advantages[sl]


def seq_count(term: LossTerm, idx: torch.Tensor | None = None) -> float:
    """What the term's sequences ``idx`` (default all) add to ``num_seqs``: Σ ``seq_counts``,
    or their number when the term has none."""
    if term.seq_counts is None:
        return float(len(term.indices) if idx is None else len(idx))
    return float((term.seq_counts if idx is None else term.seq_counts[idx]).sum())


class UpdateModels(NamedTuple):
    policy: Any
    reference: Any | None
    """Frozen KL reference (None without a KL penalty)."""
    value_head: torch.nn.Module | None


@dataclass(frozen=True)
class TermParts:
    """Which parts besides the policy-gradient surrogate a term's loss has (decided once)."""

    kl: bool
    """β · KL(π_θ ‖ π_ref): on-policy terms, β > 0 and a reference model."""
    entropy: bool
    """− c · H: on-policy terms with an entropy bonus."""
    value: bool
    """c_v · value loss: terms the critic pre-pass gave GAE targets."""

    @classmethod
    def of(cls, ts: TermState, s: LossSettings, models: UpdateModels) -> "TermParts":
        return cls(kl=ts.on_policy and s.beta > 0 and models.reference is not None,
                   entropy=ts.on_policy and bool(s.entropy_coef),
                   value=ts.gae is not None and models.value_head is not None)


def zero_advantage_means_zero_gradient(ts: TermState, parts: TermParts) -> bool:
    """The PG loss of every preset is the advantage times a finite factor, so all-zero
    advantages give a zero gradient unless another part of the loss has one; not for
    entropy-weighted presets, whose "advantages" are rewards mapped to 0.1·exp(H) or −1."""
    return not (parts.kl or parts.entropy or parts.value) and ts.preset.weighting is None


@dataclass
class TermStats:
    """What the micro-batches of one term report (this process; sums over micro-batches)."""

    loss: float = 0.0
    """Σ of the aggregated term loss L_k (before weight, KL, entropy): its share of the global loss."""
    kl: float = 0.0
    """Σ of the aggregated KL penalty (before β)."""
    entropy_sum: float = 0.0
    """Σ of token entropies over real tokens."""
    tokens: float = 0.0
    """Real tokens of the micro-batches run."""
    vf_loss: float = 0.0
    skipped: int = 0
    """Micro-batches skipped (zero advantages)."""
    positions: float = 0.0
    """Token positions the micro-batches' forward/backward computed (padding included)."""
    real_positions: float = 0.0
    """Of those, real prompt and completion tokens (the rest is padding)."""
    metric_sums: dict[str, float] = field(default_factory=dict)
    """Preset metrics (clip fractions, ratios) times the micro-batch's token count."""
    metric_max: dict[str, float] = field(default_factory=dict)
    """Metrics reported as their maximum over micro-batches (the rollout log-prob mismatch)."""

    def add(self, other: "TermStats") -> None:
        for f in ("loss", "kl", "entropy_sum", "tokens", "vf_loss", "skipped", "positions", "real_positions"):
            setattr(self, f, getattr(self, f) + getattr(other, f))
        for k, v in other.metric_sums.items():
            self.metric_sums[k] = self.metric_sums.get(k, 0.0) + v
        for k, v in other.metric_max.items():
            self.metric_max[k] = max(self.metric_max.get(k, v), v)

    def metrics(self, prefix: str) -> dict[str, float]:
        """Preset metrics averaged by token share (maxima as maxima), as ``{prefix}/{name}``."""
        return {**{f"{prefix}/{k}": v / max(1.0, self.tokens) for k, v in self.metric_sums.items()},
                **{f"{prefix}/{k}": v for k, v in self.metric_max.items()}}


def forward_positions(mb: Sequences) -> tuple[float, float]:
    """(positions, real tokens) of a micro-batch's forward: ``rollout.logprobs.build_batch`` lays it
    out as [left-padded prompts | completions cut after their last real column], so it computes
    N × (longest prompt + longest completion) positions, of which Σ prompt lengths + Σ completion
    tokens are real."""
    lengths = [len(mb.prompt_ids[p]) for p in mb.prompt_index.tolist()]
    real = mb.mask > 0
    cols = real.any(dim=0).nonzero()
    t = int(cols.max()) + 1 if cols.numel() else 1
    return float(len(lengths) * (max(lengths, default=0) + t)), float(sum(lengths) + int(real.sum()))


def chunks(n: int, size: int) -> list[slice]:
    return [slice(i, min(n, i + size)) for i in range(0, n, size)]


def model_device(model) -> torch.device:
    """Where the model's weights are (the micro-batches go there)."""
    p = next(iter(model.parameters()), None)
    return p.device if p is not None else torch.device("cpu")


def forward(model, mb: Sequences, s: LossSettings, **kw) -> dict[str, torch.Tensor]:
    """``sequence_logprobs`` of a micro-batch under autocast, on the model's device."""
    mb = mb.to(model_device(model))
    with s.autocast():
        return sequence_logprobs(model, mb.prompt_ids, mb.prompt_index, mb.completion_ids, mb.mask,
                                 temperature=s.temperature, **kw)


def _policy_part(ts: TermState, sl: slice, mb: Sequences, logp, entropy, s: LossSettings):
    """(per-token PG loss with the term's sequence weights, preset metrics, metrics reported as maxima)."""
    maxima: dict[str, float] = {}
    extra: dict[str, float] = {}
    sampler = mb.sampling_logprobs if ts.on_policy else None  # the rollout engine's log-probs, if kept

    def first_pass_old() -> torch.Tensor:  # the PPO denominator: the sampler's, or π_θ at this first pass
        if s.old_logprobs == "sampling" and sampler is not None:
            return sampler.float()
        if sampler is not None:  # how far the sampler's log-probs are from ours (vLLM's kernels)
            diff = logprob_mismatch(logp, sampler, mb.mask)
            maxima["rollout_logprob_diff_max"] = diff["max"]
            extra["rollout_logprob_diff_mean"] = diff["mean"]
        return logp

    old = ts.old_logp.get(sl, first_pass_old).to(logp.device)
    adv = ts.advantages(sl)
    adv = None if adv is None else adv.to(logp.device)  # the controller's advantages live on the CPU
    ptl, metrics = term_loss(ts.preset, logp, old, adv, mb.mask, entropy=entropy, eps_low=s.eps_low,
                             eps_high=s.eps_high, dual_clip_c=s.dual_clip_c, shaping_gamma=s.shaping_gamma,
                             sft_loss_type=s.sft_loss_type)
    metrics = {**metrics, **extra}
    if s.vllm_importance_sampling_correction and sampler is not None and s.old_logprobs != "sampling":
        # truncated importance sampling (TIS): loss_t *= min(π_θold / π_sampler, C) (detached; hybridrl.rollout.correction)
        w, is_metrics = rollout_is_weights(old, sampler, mb.mask, cap=s.vllm_importance_sampling_clip_max,
                                           mode=s.vllm_importance_sampling_mode)
        ptl = ptl * w.to(ptl.dtype)
        metrics.update(is_metrics)
    if ts.term.seq_weights is not None:
        ptl = ptl * ts.term.seq_weights[sl].to(ptl.device, ptl.dtype)[:, None]
    return ptl, metrics, maxima


def micro_batch_loss(ts: TermState, sl: slice, parts: TermParts, models: UpdateModels, weighting: Weighting,
                     s: LossSettings) -> tuple[torch.Tensor, TermStats]:
    """The loss to backpropagate for micro-batch ``sl`` of a term, and its statistics:

        total = w_k · (L_k + β · KL − c · H) + c_v · V     (each reduced with the term's counts)

    The term's weight multiplies its KL penalty and entropy bonus too: they are part of the
    actor loss the weight scales (SuperRL §3.2's L_actor under exp(−2 s_pg)); the critic's
    value loss is not.
    """
    mb = ts.seqs.slice(sl).to(model_device(models.policy))
    out = forward(models.policy, mb, s, return_entropy=True, return_hidden=parts.value,
                  entropy_grad=parts.entropy)  # only an entropy bonus differentiates the entropy
    logp, entropy = out["logprobs"].float(), out["entropy"].float()
    mode = s.loss_agg_mode or ts.preset.agg_mode

    def agg(x: torch.Tensor) -> torch.Tensor:
        return agg_loss(x, mb.mask, mode, num_tokens=ts.norm.tokens, num_seqs=ts.norm.seqs, max_len=s.max_len)

    ptl, metrics, maxima = _policy_part(ts, sl, mb, logp, entropy, s)
    loss = agg(ptl)
    actor = loss
    positions, real_positions = forward_positions(mb)
    st = TermStats(loss=float(loss.detach()), entropy_sum=float((entropy.detach() * mb.mask).sum()),
                   tokens=float(mb.mask.sum()), positions=positions, real_positions=real_positions)
    if parts.kl:
        ref = ts.ref_logp.get(sl, lambda: _no_grad_logprobs(models.reference, mb, s)).to(logp.device)
        kl = agg(kl_penalty(logp, ref, s.kl_estimator))
        actor = actor + s.beta * kl
        st.kl = float(kl.detach())
    if parts.entropy:
        # a token mean over the term's own real tokens (all micro-batches and processes), as the
        # official HPT/LUFFY actors' masked_mean(entropy) per micro-batch, made layout-free: the
        # coefficient means the same under every aggregation mode of the PG term
        ent_tokens = ts.entropy_tokens if ts.entropy_tokens is not None else ts.norm.tokens
        actor = actor - s.entropy_coef * agg_loss(entropy, mb.mask, "token-mean", num_tokens=ent_tokens)
    total = weighting.weight(ts.term.name) * actor
    if parts.value:
        hidden = out["hidden"].float()
        values = models.value_head(hidden.detach() if s.critic_detach else hidden).squeeze(-1)
        old_values, returns = ts.gae.old_values[sl].to(values.device), ts.gae.returns[sl].to(values.device)
        vl = agg(value_loss(values, old_values, returns, mb.mask, clip_eps=s.cliprange_value))
        total = total + s.vf_coef * vl
        st.vf_loss = float(vl.detach())
    st.metric_sums = {k: float(torch.as_tensor(v).float().mean()) * st.tokens for k, v in metrics.items()}
    st.metric_max = maxima
    return total, st


@torch.no_grad()
def _no_grad_logprobs(model, mb: Sequences, s: LossSettings) -> torch.Tensor:
    return forward(model, mb, s)["logprobs"].float()


def micro_batches(ts: TermState, s: LossSettings, skippable: bool = False) -> list[slice] | list[torch.Tensor]:
    """A term's micro-batches of ``micro_batch_size`` sequences: slices in the batch's order
    (``micro_batch_order=given``), or with ``length`` the cheapest of a few orders by the positions
    their forwards compute (each is [left-padded prompts | completions], so a micro-batch costs
    n × (longest prompt + longest completion)): the batch's order, and the sequences sorted by
    (prompt, completion), by (completion, prompt) and by their sum. With ``skippable``, sorted orders
    put the sequences whose advantages are all zero first (they fill the micro-batches
    ``skip_zero_advantage`` skips), and skipped micro-batches cost nothing. Ties keep the batch's
    order. Every sequence is in exactly one micro-batch whatever the order, and every term's loss
    is normalised by global counts: the gradient is the same sum."""
    n, size = len(ts.seqs), s.micro_batch_size
    given = chunks(n, size)
    if s.micro_batch_order != "length" or n <= size:
        return given
    seqs = ts.seqs
    comp = [int(c) for c in (seqs.mask > 0).sum(1).tolist()]
    prompt = [len(seqs.prompt_ids[p]) for p in seqs.prompt_index.tolist()]
    adv = ts.advantages(slice(None)) if skippable else None
    zero = [not bool(a.any()) for a in adv.reshape(n, -1)] if adv is not None else [False] * n

    def cost(batches: list[list[int]]) -> int:
        return sum(len(b) * (max(prompt[k] for k in b) + max(comp[k] for k in b))
                   for b in batches if not all(zero[k] for k in b))

    best, best_cost = given, cost([list(range(sl.start, sl.stop)) for sl in given])
    for key in (lambda k: (prompt[k], comp[k]), lambda k: (comp[k], prompt[k]), lambda k: prompt[k] + comp[k]):
        order = sorted(range(n), key=lambda k: (not zero[k], key(k)))
        batches = [order[i: i + size] for i in range(0, n, size)]
        c = cost(batches)
        if c < best_cost:
            best, best_cost = [torch.tensor(b, dtype=torch.long) for b in batches], c
    return best


def runnable_micro_batches(ts: TermState, parts: TermParts, s: LossSettings) -> tuple[list[slice], int]:
    """The micro-batches of a term that run forward/backward, and how many are skipped because
    their advantages are all zero (decided before any pass: under DDP/FSDP2 every rank must
    know how many passes it runs before the first one, see ``parallel.lockstep``)."""
    skippable = s.skip_zero_advantage and zero_advantage_means_zero_gradient(ts, parts)
    run, skipped = [], 0
    for sl in micro_batches(ts, s, skippable):
        adv = ts.advantages(sl)
        if skippable and adv is not None and not bool(adv.any()):
            skipped += 1
        else:
            run.append(sl)
    return run, skipped


# ---------------------------------------------------------------------------------------
# pre-passes: whole-term computations that must precede the first backward


@torch.no_grad()
def critic_prepass(ts: TermState, models: UpdateModels, s: LossSettings, par: Any) -> None:
    """PPO: old values and GAE advantages/returns for a term whose preset uses ``gae``.

    The reward is given at the last real token; advantages are whitened over real tokens.
    """
    if models.value_head is None:
        raise RuntimeError(f"term {ts.term.name!r} (preset {ts.preset.name!r}) needs a value head")
    seqs = ts.seqs.to(model_device(models.policy))
    vals = torch.zeros_like(seqs.mask)
    for sl in chunks(len(seqs), s.micro_batch_size):
        mb = seqs.slice(sl)
        out = forward(models.policy, mb, s, return_hidden=True)
        vals[sl] = models.value_head(out["hidden"].float()).squeeze(-1) * mb.mask
    lengths = seqs.mask.sum(1).long()
    token_rewards = torch.zeros_like(seqs.mask)
    last = (lengths - 1).clamp(min=0)
    token_rewards[torch.arange(len(seqs)), last] = seqs.rewards.float()
    adv, ret = gae_advantages(token_rewards, vals, seqs.mask, gamma=s.gae_gamma, lam=s.gae_lambda)
    m = seqs.mask.bool()
    # whitened with the mean and (unbiased) std over the real tokens of all processes, so that
    # several processes give the one-process advantages: std² = (Σa² − n·mean²) / (n − 1)
    a = adv[m].double()
    total, sq, n = par.sum([float(a.sum()), float((a * a).sum()), float(a.numel())])
    mean = total / max(1.0, n)
    std = math.sqrt(max(0.0, (sq - n * mean * mean) / (n - 1))) if n > 1 else 1.0
    ts.gae = GAETargets(advantages=torch.where(m, (adv - mean) / (std + 1e-8), torch.zeros_like(adv)),
                        returns=ret, old_values=vals)


PrePass = Callable[[TermState, UpdateModels, LossSettings, Any], None]
PREPASSES_BY_ADVANTAGE: dict[str, PrePass] = {"gae": critic_prepass}
"""Pre-pass of presets by their advantage kind (``Preset.advantage``)."""


def has_prepass(ts: TermState) -> bool:
    """Whether :func:`prepare_term` runs anything for this term."""
    return ts.preset.advantage in PREPASSES_BY_ADVANTAGE


def reference_logprobs(model, mb: Sequences, s: LossSettings) -> torch.Tensor:
    """Log-probs of a micro-batch under the frozen KL reference (no gradient)."""
    return _no_grad_logprobs(model, mb, s)


def prepare_term(ts: TermState, models: UpdateModels, s: LossSettings, par: Any) -> None:
    """The one hook the loop calls for every term before its first backward: runs the
    pre-pass its preset registered (critic values and GAE for ``gae`` advantages)."""
    hook = PREPASSES_BY_ADVANTAGE.get(ts.preset.advantage)
    if hook is not None:
        hook(ts, models, s, par)
