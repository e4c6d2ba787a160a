"""One optimizer update: loss terms -> sequences -> per-token losses -> one aggregation.

This is where the controller's plan meets the estimator. For each :class:`LossTerm` the
sequences are built (rollout completions, or demonstrations after their prompt), split
into micro-batches, and each micro-batch contributes
``weight * agg_loss(per_token_loss, mask, mode, num_tokens=N_term, num_seqs=S_term)`` where
N_term / S_term are the term's counts over the whole step (all micro-batches, all
processes). Summing the micro-batch gradients therefore gives exactly the gradient of the
whole-batch loss, whatever the micro-batch size or the number of processes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch

from hybridrl.core.aggregation import agg_loss
from hybridrl.core.presets import get_preset, term_loss
from hybridrl.core.regularizers import kl_penalty, value_loss
from hybridrl.core.advantages import gae_advantages
from hybridrl.methods.base import LossTerm
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

    def slice(self, sl: slice) -> "Sequences":
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
        rollouts.logprobs[idx],
        rewards[idx].float(),
    )


def demo_sequences(prompt_ids: list[list[int]], demo_ids: list[list[int]], idx: torch.Tensor) -> Sequences:
    """Demonstrations of rows ``idx``: ``prompt_ids[i]`` / ``demo_ids[i]`` are per row."""
    rows = idx.tolist()
    T = max((len(demo_ids[i]) for i in rows), default=1)
    ids = torch.zeros(len(rows), T, dtype=torch.long)
    mask = torch.zeros(len(rows), T)
    for k, i in enumerate(rows):
        d = demo_ids[i]
        ids[k, : len(d)] = torch.tensor(d, dtype=torch.long)
        mask[k, : len(d)] = 1.0
    return Sequences(prompt_ids, idx.clone(), ids, mask, None, torch.ones(len(rows)))


@dataclass
class LossSettings:
    """The loss hyper-parameters the update needs (a view of TrainConfig)."""

    temperature: float
    eps_low: float | None
    eps_high: float | None
    dual_clip_c: float | None
    shaping_gamma: float
    loss_agg_mode: str | None
    max_len: int
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
    skip_zero_advantage: bool = True


class TermState:
    """Per-term data that survives across the μ iterations of one batch."""

    def __init__(self, term: LossTerm, seqs: Sequences):
        self.term = term
        self.seqs = seqs
        self.preset = get_preset(term.preset)
        self.old_logp: list[torch.Tensor | None] = []
        self.ref_logp: list[torch.Tensor | None] = []
        self.old_values: torch.Tensor | None = None
        self.returns: torch.Tensor | None = None
        self.advantages = term.advantages
        self.batch_entropy: torch.Tensor | None = None  # 0-dim, for entropy-weighted presets (SRFT)
        self.num_tokens = float(seqs.mask.sum())
        self.num_seqs = float(len(seqs))
        # replaced by the sums over all processes before the first backward
        self.num_tokens_global = self.num_tokens
        self.num_seqs_global = self.num_seqs


def chunks(n: int, size: int) -> list[slice]:
    return [slice(i, min(n, i + size)) for i in range(0, n, size)]


@torch.no_grad()
def prepare_critic(ts: TermState, model, value_head, s: LossSettings) -> None:
    """PPO: old values and GAE advantages/returns for a term whose preset uses ``gae``.

    The reward is given at the last real token; advantages are whitened over real tokens.
    """
    seqs = ts.seqs
    vals = torch.zeros_like(seqs.mask)
    for sl in chunks(len(seqs), s.micro_batch_size):
        mb = seqs.slice(sl)
        with s.autocast():
            out = sequence_logprobs(model, mb.prompt_ids, mb.prompt_index, mb.completion_ids, mb.mask,
                                    temperature=s.temperature, return_hidden=True)
        vals[sl] = value_head(out["hidden"].float()).squeeze(-1) * mb.mask
    lengths = seqs.mask.sum(1).long()
    token_rewards = torch.zeros_like(seqs.mask)
    last = (lengths - 1).clamp(min=0)
    token_rewards[torch.arange(len(seqs)), last] = seqs.rewards.float()
    adv, ret = gae_advantages(token_rewards, vals, seqs.mask, gamma=s.gae_gamma, lam=s.gae_lambda)
    m = seqs.mask.bool()
    mean, std = adv[m].mean(), adv[m].std() if m.sum() > 1 else torch.tensor(1.0)
    ts.advantages = torch.where(m, (adv - mean) / (std + 1e-8), torch.zeros_like(adv))
    ts.old_values, ts.returns = vals, ret


@torch.no_grad()
def term_entropy_sums(ts: TermState, model, s: LossSettings) -> tuple[float, float]:
    """(sum of token entropies, token count) of a term, for presets weighted by the batch
    entropy (SRFT): the weight must not depend on how the batch is split into micro-batches,
    so it is computed over the whole term (all processes) before any backward pass."""
    total = 0.0
    for sl in chunks(len(ts.seqs), s.micro_batch_size):
        mb = ts.seqs.slice(sl)
        with s.autocast():
            out = sequence_logprobs(model, mb.prompt_ids, mb.prompt_index, mb.completion_ids, mb.mask,
                                    temperature=s.temperature, return_entropy=True)
        total += float((out["entropy"].float() * mb.mask).sum())
    return total, float(ts.seqs.mask.sum())


def term_backward(
    ts: TermState,
    iteration: int,
    model,
    ref_model,
    value_head,
    weight_of: Callable[[], torch.Tensor | float],
    scale: float,
    s: LossSettings,
) -> dict[str, float]:
    """Forward/backward every micro-batch of one term; returns summed (global) statistics.

    ``scale`` multiplies the loss before backward (1 on one process); the caller sums
    gradients over processes.
    """
    term, seqs, preset = ts.term, ts.seqs, ts.preset
    mode = s.loss_agg_mode or preset.agg_mode
    agg = dict(num_tokens=ts.num_tokens_global, num_seqs=ts.num_seqs_global, max_len=s.max_len)
    on_policy = term.source == "rollout"
    stats = {"loss": 0.0, "kl": 0.0, "entropy_sum": 0.0, "tokens": 0.0, "vf_loss": 0.0, "skipped_mb": 0.0}
    extra: dict[str, float] = {}
    # a micro-batch's gradient is exactly zero when its advantages are all zero and no other part
    # of its loss has one (the PG loss of every preset is the advantage times a finite factor);
    # not for SRFT's rollout term, whose "advantages" are rewards mapped to 0.1·exp(H) or −1
    grad_free_else = not (on_policy and s.beta > 0 and ref_model is not None) and not (on_policy and s.entropy_coef) \
        and not (value_head is not None and ts.returns is not None) and ts.preset.weighting is None
    for k, sl in enumerate(chunks(len(seqs), s.micro_batch_size)):
        mb = seqs.slice(sl)
        if (s.skip_zero_advantage and grad_free_else and ts.advantages is not None
                and not bool(ts.advantages[sl].any())):
            if iteration == 0:
                ts.old_logp.append(None)  # keeps the micro-batch index k aligned
            stats["skipped_mb"] += 1.0
            continue
        with s.autocast():
            out = sequence_logprobs(model, mb.prompt_ids, mb.prompt_index, mb.completion_ids, mb.mask,
                                    temperature=s.temperature, return_entropy=True,
                                    # only an entropy bonus differentiates the entropy
                                    entropy_grad=on_policy and bool(s.entropy_coef),
                                    return_hidden=value_head is not None and ts.returns is not None)
        logp = out["logprobs"].float()
        entropy = out["entropy"].float()
        # the PPO denominator: frozen at the first pass of this batch (or the sampler's)
        if iteration == 0:
            if s.old_logprobs == "sampling" and mb.sampling_logprobs is not None:
                old = mb.sampling_logprobs.float()
            else:
                old = logp.detach()
            ts.old_logp.append(old)
        old = ts.old_logp[k]
        adv = None if ts.advantages is None else ts.advantages[sl]
        ent_in = ts.batch_entropy if ts.batch_entropy is not None else entropy
        ptl, metrics = term_loss(preset, logp, old, adv, mb.mask, entropy=ent_in, eps_low=s.eps_low,
                                 eps_high=s.eps_high, dual_clip_c=s.dual_clip_c, shaping_gamma=s.shaping_gamma)
        if term.seq_weights is not None:
            ptl = ptl * term.seq_weights[sl].to(ptl.dtype)[:, None]
        loss = agg_loss(ptl, mb.mask, mode, **agg)
        total = weight_of() * loss
        if on_policy and s.beta > 0 and ref_model is not None:
            if iteration == 0:
                with torch.no_grad(), s.autocast():
                    ref = sequence_logprobs(ref_model, mb.prompt_ids, mb.prompt_index, mb.completion_ids,
                                            mb.mask, temperature=s.temperature)["logprobs"].float()
                ts.ref_logp.append(ref)
            kl = agg_loss(kl_penalty(logp, ts.ref_logp[k], s.kl_estimator), mb.mask, mode, **agg)
            total = total + s.beta * kl
            stats["kl"] += float(kl.detach())
        if on_policy and s.entropy_coef:
            total = total - s.entropy_coef * agg_loss(entropy, mb.mask, mode, **agg)
        if value_head is not None and ts.returns is not None:
            values = value_head(out["hidden"].float()).squeeze(-1)
            vl = value_loss(values, ts.old_values[sl], ts.returns[sl], mb.mask, clip_eps=s.cliprange_value)
            vl = agg_loss(vl, mb.mask, mode, **agg)
            total = total + s.vf_coef * vl
            stats["vf_loss"] += float(vl.detach())
        (total * scale).backward()
        stats["loss"] += float(loss.detach())
        stats["entropy_sum"] += float((entropy.detach() * mb.mask).sum())
        stats["tokens"] += float(mb.mask.sum())
        for key, v in metrics.items():
            # micro-batch metrics (clip fractions, ratios) averaged by token share
            extra[key] = extra.get(key, 0.0) + float(torch.as_tensor(v).float().mean()) * float(mb.mask.sum())
    for key, v in extra.items():
        stats[f"{term.name}/{key}"] = v / max(1.0, stats["tokens"])
    return stats
