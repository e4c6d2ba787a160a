"""Detached per-token weights of SFT terms: w_t = sg(φ(p_t)), p_t = π_θ(y_t | ·) = exp(log π).

Applied to a term's per-token NLL *before* the one aggregation (``agg_loss``), so the
normaliser stays the term's token count (not Σ w_t):

    L = agg( −sg(φ(p_t)) · log p_t )

- ``nll``: φ ≡ 1, the plain NLL (HPT eq. 12; CHORD's φ ≡ 1 variant, "CHORD-μ").
- ``dft``: φ(p) = p. Dynamic Fine-Tuning (Wu et al. 2025, "On the Generalization of SFT");
  TRL ``SFTConfig(loss_type="dft")``; Trinity-RFT's ``sft_is`` loss ("SFT with
  importance sampling", the CHORD paper's IS baseline).
- ``phi``: φ(p) = p(1 − p). CHORD (Zhang et al. 2025, arXiv 2508.11408; Trinity-RFT
  ``chord_policy_loss.phi_function``): down-weights tokens the policy already predicts
  (p → 1) *and* tokens far from it (p → 0); the largest weight 1/4 is at p = 1/2.

The weights carry no gradient (``sg``): ∇L = −Σ_t φ(p_t) ∇log p_t / count.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

TokenWeightFn = Callable[[Tensor], Tensor]
"""p (N, T) in [0, 1] -> φ(p) (N, T)."""

TOKEN_WEIGHTS: dict[str, TokenWeightFn] = {
    "nll": lambda p: torch.ones_like(p),
    "dft": lambda p: p,  # DFT / sft_is: sg(p)
    "phi": lambda p: p * (1.0 - p),  # CHORD φ(p) = p(1 − p)
}
SFT_LOSS_TYPES: tuple[str, ...] = ("nll", "dft")
"""The values of the ``sft_loss_type`` option (TRL's ``SFTConfig.loss_type`` names)."""


def sft_token_weights(logp: Tensor, mask: Tensor, kind: str) -> Tensor:
    """sg(φ(p_t)) at unmasked positions, 0 elsewhere.

    Args:
        logp: (N, T) log π_θ of the demonstration tokens (its gradient is not used).
        mask: (N, T) 1 for real tokens.
        kind: a key of ``TOKEN_WEIGHTS``.
    Returns:
        (N, T) detached weights.
    """
    if kind not in TOKEN_WEIGHTS:
        raise ValueError(f"unknown token weighting {kind!r}; valid: {', '.join(TOKEN_WEIGHTS)}")
    m = mask.bool()
    p = torch.where(m, logp.detach(), torch.zeros_like(logp)).exp()  # sanitised: masked garbage never enters
    return torch.where(m, TOKEN_WEIGHTS[kind](p), torch.zeros_like(p))
