"""Advantage estimates: the Â component of the Unified Policy Gradient Estimator (HPT §3.1, Table 1).

Group estimators take per-completion rewards `(N,)` and a `group_index (N,)`
(any integer ids, e.g. the prompt index; groups may have different sizes and
need not be contiguous) and return per-completion advantages `(N,)`, to be
broadcast over the completion's tokens by `policy_loss`.

All functions are pure and vectorised; `tests/core/test_advantages.py` checks
each against a plain-Python loop.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor


def _group_sum(x: Tensor, group_index: Tensor) -> Tensor:
    """Σ of x over each completion's group, gathered back per completion: (N,) -> (N,)."""
    groups, inv = torch.unique(group_index, return_inverse=True)  # inv: (N,) dense ids 0..G-1
    sums = torch.zeros(groups.numel(), dtype=x.dtype, device=x.device).index_add_(0, inv, x)
    return sums[inv]


def _group_stats(rewards: Tensor, group_index: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Per-completion (group sum, group size, group mean), each (N,), float64."""
    r = rewards.to(torch.float64)  # float64 sums; cast back at the end
    total = _group_sum(r, group_index)
    size = _group_sum(torch.ones_like(r), group_index)
    return total, size, total / size


def grpo_advantages(
    rewards: Tensor,
    group_index: Tensor,
    *,
    eps: float = 1e-6,
    scale_std: bool = True,
    unbiased: bool = True,
) -> Tensor:
    """GRPO group-normalised advantage (DeepSeekMath §4.1.2; HPT eq. 5 / eq. 17).

        A_i = (R_i - mean_g(R)) / (std_g(R) + eps)        (scale_std=True)
        A_i =  R_i - mean_g(R)                             (scale_std=False)

    Std convention: ``unbiased=True`` (Bessel, divide by n_g - 1) like TRL's
    `GRPOTrainer` and verl (`torch.std`); ``unbiased=False`` gives the
    population std. DeepSeekMath does not state which. A group with equal rewards has
    0/(0+eps) = 0.

    Groups of one sample: A = 0 here (the sample is its own baseline, so it carries no
    signal). verl instead sets mean 0, std 1 for a one-sample group, giving A = R/(1+eps)
    (with std) or A = R (without): the raw reward. We keep 0 because a one-sample group has
    no baseline to compare with and R alone would push up every rewarded sample with no
    contrast; the one place that relies on verl's convention, HPT's OFF/ON variant (the
    gated prompt's group is its demonstration alone, official A = R(τ*) = 1), sets A = 1
    itself (``hybridrl.methods.hpt``) and never calls this function for it.

    Args:
        rewards: (N,) float.
        group_index: (N,) long, group id of each completion.
    Returns:
        (N,) advantages, dtype of `rewards`.
    """
    _, size, mean = _group_stats(rewards, group_index)
    r = rewards.to(torch.float64)
    centred = r - mean
    if scale_std:
        sq = _group_sum(centred**2, group_index)  # Σ_g (R - mean)^2, per completion
        ddof = 1.0 if unbiased else 0.0
        std = torch.sqrt(sq / (size - ddof).clamp(min=1))
        centred = centred / (std + eps)
    centred = torch.where(size > 1, centred, torch.zeros_like(centred))
    return centred.to(rewards.dtype)


def dr_grpo_advantages(rewards: Tensor, group_index: Tensor) -> Tensor:
    """Dr. GRPO advantage ("Understanding R1-Zero-Like Training" §3.1): A_i = R_i - mean_g(R).

    No std division (it biases towards too easy / too hard questions). (N,) -> (N,).
    """
    return grpo_advantages(rewards, group_index, scale_std=False)


def rloo_advantages(rewards: Tensor, group_index: Tensor) -> Tensor:
    """REINFORCE Leave-One-Out (Ahmadian et al. 2024, "Back to Basics", eq. 6).

        A_i = R_i - (Σ_{j in g, j != i} R_j) / (n_g - 1)

    Groups of size 1 have no baseline sample: A_i = 0. (N,) -> (N,).
    """
    total, size, _ = _group_stats(rewards, group_index)
    r = rewards.to(torch.float64)
    loo_mean = (total - r) / (size - 1).clamp(min=1)
    adv = torch.where(size > 1, r - loo_mean, torch.zeros_like(r))
    return adv.to(rewards.dtype)


def reinforce_advantages(rewards: Tensor, *, threshold: float = 0.5) -> Tensor:
    """REINFORCE ±1 advantage (HPT Table 1: Â_REINFORCE = ±1).

        A_i = +1 if R_i > threshold else -1

    With binary rewards this is 2R - 1. (N,) -> (N,).
    """
    return torch.where(rewards > threshold, 1.0, -1.0).to(rewards.dtype)


def gae_advantages(
    token_rewards: Tensor,
    values: Tensor,
    mask: Tensor,
    *,
    gamma: float = 1.0,
    lam: float = 1.0,
) -> tuple[Tensor, Tensor]:
    """Generalised Advantage Estimation (Schulman et al. 2015b, eq. 16), for PPO (HPT Table 1).
    Defaults γ = λ = 1 as verl (``algorithm.gamma`` / ``lam``) and the official HPT PPO config.

        δ_t = r_t + γ V_{t+1} - V_t          (V_{t+1} = 0 after the last valid token)
        A_t = δ_t + γ λ A_{t+1}
        R_t = A_t + V_t                      (returns, the value-loss target)

    Args:
        token_rewards: (N, T) reward per token (usually the verifier reward on the
            last valid token, minus a KL penalty per token if used).
        values: (N, T) critic values V(s_t), detached.
        mask: (N, T) right-padded (each row is 1...1 0...0). A mask with holes
            (0 between 1s, e.g. tool outputs in a multi-turn completion) is rejected with
            a ValueError: verl carries values across such holes, this recursion would
            restart at each one, and neither is checked here, so we refuse rather than
            guess.
    Returns:
        (advantages, returns), both (N, T), 0 at masked positions. Not whitened:
        PPO implementations usually whiten A over the batch; do it in the caller.
    """
    m = mask.bool()
    # right-padded: once a row has a 0 it has no later 1 (cummin of the row keeps the mask)
    if m.numel() and not bool((m.int().cummin(dim=-1).values.bool() == m).all()):
        bad = int((m.int().cummin(dim=-1).values.bool() != m).any(-1).nonzero()[0])
        raise ValueError(
            f"gae_advantages: mask row {bad} has holes (a 0 between 1s); GAE here needs "
            "right-padded masks (multi-turn masks with tool tokens are not supported)")
    zero = torch.zeros_like(values)
    r = torch.where(m, token_rewards, zero)
    v = torch.where(m, values, zero).detach()
    T = v.shape[-1]
    adv = torch.zeros_like(v)
    last = torch.zeros_like(v[:, 0])  # (N,) A_{t+1}
    for t in reversed(range(T)):
        next_v = v[:, t + 1] if t + 1 < T else torch.zeros_like(last)  # 0 where padded
        next_m = m[:, t + 1].to(v.dtype) if t + 1 < T else torch.zeros_like(last)
        delta = r[:, t] + gamma * next_v - v[:, t]
        last = delta + gamma * lam * next_m * last
        adv[:, t] = last
    adv = torch.where(m, adv, zero)
    returns = torch.where(m, adv + v, zero)
    return adv, returns


def sequence_entropy(entropy: Tensor, mask: Tensor) -> Tensor:
    """Per-sequence entropy H_i = Σ_t m_it H_it / Σ_t m_it, detached (0 for an empty row).

    The official SRFT code's ``masked_mean(entropy, response_mask, axis=-1)`` (its
    ``mix_actor.py``, ``offline_loss_type == "srft"``). (N, T), (N, T) -> (N,).
    """
    m = mask.bool()
    ent = entropy.detach()
    total = torch.where(m, ent, torch.zeros_like(ent)).sum(-1)
    return total / m.sum(-1).clamp(min=1).to(total.dtype)


def srft_weights(
    entropy: Tensor,
    mask: Tensor | None = None,
    rewards: Tensor | None = None,
    *,
    sft_coef: float = 0.5,
    pos_coef: float = 0.1,
    neg_weight: float = -1.0,
) -> Tensor:
    """SRFT entropy-aware weights, one per sequence (Fu et al. 2025, "SRFT" §4; HPT baseline,
    official code ``mix_actor.py``; docs/methods.md, SRFT).

    The weights play the role of Â in `policy_loss` with the `detached`
    denominator (loss = -w_i · log π):

        demonstration i (rewards=None):  w_i = sft_coef · exp(-H_i)   = 0.5 · exp(-H_i)
        rollout i with R_i > 0:          w_i = pos_coef · exp(+H_i)   = 0.1 · exp(H_i)
        rollout i with R_i <= 0:         w_i = neg_weight             = -1 (plain PG pushing log π down)

    H_i is the entropy of sequence i under the current policy: the masked mean of its
    token entropies (`sequence_entropy`), detached, as the official code computes it
    (``masked_mean(entropy, response_mask, axis=-1)``). The SRFT paper writes one
    ``stopgrad(exp(∓H(π_θ)))``; the official code, which HPT's comparison ran, uses the
    per-sequence value, and so do we. Each H_i depends only on its own sequence, so the
    weights do not depend on how the batch is split into micro-batches.

    A 0-dim ``entropy`` is used as H for every sequence (needs ``rewards`` to know how many
    there are, else a 0-dim weight is returned).

    Args:
        entropy: (N, T) token entropies (or a 0-dim H). Detached here.
        mask: (N, T) tokens of each sequence (required for (N, T) entropy).
        rewards: (N,) rewards of the rollouts; None for the SFT (demonstration) weight.
    Returns:
        (N,) per-sequence weights (0-dim for a 0-dim entropy without rewards).
    """
    ent = entropy.detach()
    if ent.dim() == 0:
        h = ent
    else:
        if mask is None:
            raise ValueError("srft_weights needs `mask` to average (N, T) entropies per sequence")
        h = sequence_entropy(ent, mask)  # (N,)
    if rewards is None:
        return sft_coef * torch.exp(-h)
    pos = (pos_coef * torch.exp(h)).to(rewards.dtype if rewards.is_floating_point() else h.dtype)
    pos = pos.expand(rewards.shape)
    return torch.where(rewards > 0, pos, torch.full_like(pos, neg_weight))


ADVANTAGES: dict[str, Callable[..., Tensor]] = {
    "grpo": grpo_advantages,
    "dr_grpo": dr_grpo_advantages,
    "rloo": rloo_advantages,
    "reinforce": reinforce_advantages,
}
"""Registry of reward -> advantage estimators by name. `gae_advantages` (needs
values) and `srft_weights` (needs entropies) have other signatures and are
called directly."""
