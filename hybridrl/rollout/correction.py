"""Rollout/training mismatch: how far the sampler's log-probs are from the training forward's, and
the truncated importance-sampling weight that corrects for it.

An inference engine (vLLM) samples with its own kernels and precision, so the policy that produced a
completion, pi_rollout, is not exactly the policy the trainer differentiates, pi_train, even with
identical weights. The PPO/GRPO ratio uses pi_train_old (recomputed) as its denominator, so the
samples are silently off-policy by pi_train_old / pi_rollout. The standard fix (Yao et al. 2025,
"Your efficient RL framework secretly brings you off-policy RL training"; verl ``rollout_is``, TRL
``vllm_importance_sampling_correction``) multiplies each token's loss by the *truncated* importance
weight

    w_t = min(pi_train_old(y_t) / pi_rollout(y_t), C)                      (token_truncate, TIS)

(detached: a constant per token, like the advantage). Variants, named as TRL's
``vllm_importance_sampling_mode``: ``token_mask`` zeroes tokens whose ratio exceeds C instead of
capping them; ``sequence_truncate`` / ``sequence_mask`` use one ratio per completion,
exp(sum_t log ratio_t), capped / masked the same way.

Every function here is a pure function of tensors (shapes: (N, T), mask 1 on real tokens).
"""

from __future__ import annotations

import torch

IS_MODES = ("token_truncate", "token_mask", "sequence_truncate", "sequence_mask")


def logprob_mismatch(train_logprobs: torch.Tensor, rollout_logprobs: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
    """Per-token |log pi_train - log pi_rollout| over real tokens.

    Args:
        train_logprobs: (N, T) log-probs of the sampled tokens under the training forward.
        rollout_logprobs: (N, T) the sampler's log-probs of the same tokens.
        mask: (N, T) 1 on real completion tokens, 0 on padding.

    Returns ``{"mean": mean |Δ|, "max": max |Δ|, "tokens": number of real tokens}`` (floats;
    mean and max are 0 when there is no real token).
    """
    m = mask > 0
    delta = (train_logprobs.detach().float() - rollout_logprobs.detach().float()).abs()[m]
    if delta.numel() == 0:
        return {"mean": 0.0, "max": 0.0, "tokens": 0.0}
    return {"mean": float(delta.mean()), "max": float(delta.max()), "tokens": float(delta.numel())}


def rollout_is_weights(
    train_old_logprobs: torch.Tensor,
    rollout_logprobs: torch.Tensor,
    mask: torch.Tensor,
    *,
    cap: float = 3.0,
    mode: str = "token_truncate",
) -> tuple[torch.Tensor, dict[str, float]]:
    """Importance weights pi_train_old / pi_rollout, truncated or masked at ``cap``.

    Args:
        train_old_logprobs: (N, T) log pi_train_old of the sampled tokens (the recomputed PPO
            denominator; detached here).
        rollout_logprobs: (N, T) log pi_rollout (the sampler's, e.g. vLLM's, log-probs).
        mask: (N, T) 1 on real tokens.
        cap: C >= 1. Truncation: w = min(ratio, C). Masking: w = ratio where ratio <= C, else 0
            (TRL's ``vllm_importance_sampling_clip_max``; no lower bound, as TRL's default).
        mode: ``token_truncate`` (TIS), ``token_mask`` (per token), ``sequence_truncate`` /
            ``sequence_mask`` (ratio = exp(sum_t log ratio_t) per completion, broadcast over it).

    Returns ``(weights, metrics)``: weights (N, T) float32, detached, 0 at padding, to multiply the
    per-token loss with; metrics ``is_weight_mean`` (over real tokens, after truncation/masking),
    ``is_clipped_frac`` (fraction of real tokens whose weight was capped or masked).
    """
    if mode not in IS_MODES:
        raise ValueError(f"unknown rollout IS mode {mode!r}: use one of {', '.join(IS_MODES)}")
    if not cap >= 1.0:
        raise ValueError(f"the IS cap must be >= 1, got {cap}")
    m = (mask > 0).float()
    log_ratio = (train_old_logprobs.detach().float() - rollout_logprobs.detach().float()) * m  # (N, T)
    if mode.startswith("sequence"):
        log_ratio = log_ratio.sum(dim=1, keepdim=True).expand_as(log_ratio)  # (N, T), one value per row
    log_cap = float(torch.log(torch.tensor(cap, dtype=torch.float64)))
    ratio = torch.exp(log_ratio.clamp(max=log_cap + 1.0))  # clamp first: no inf, the cap decides anyway
    clipped = log_ratio > log_cap
    weights = ratio.clamp(max=cap) if mode.endswith("truncate") else ratio.masked_fill(clipped, 0.0)
    weights = weights * m
    n = m.sum().clamp(min=1.0)
    metrics = {"is_weight_mean": float(weights.sum() / n), "is_clipped_frac": float((clipped.float() * m).sum() / n)}
    return weights, metrics
