"""One reduction for every loss term (SFT and RL alike).

`agg_loss` turns a per-token loss matrix `(N, T)` into the scalar that is
back-propagated. SFT and RL terms go through the same function so that their
weights (HPT eq. 13, SuperRL's Hybrid Actor, ...) compare like with like.

Micro-batching / gradient accumulation / data parallelism
---------------------------------------------------------
Every mode is a *sum* of per-token or per-sequence contributions divided by a
count. When the step batch is split into micro-batches (and across ranks),
pass the GLOBAL counts of the whole step batch:

- ``num_tokens``: number of unmasked tokens in the whole step batch;
- ``num_seqs``: number of sequences with at least one unmasked token in the
  whole step batch (`(mask.sum(-1) > 0).sum()`, summed over micro-batches and
  ranks; fully masked rows contribute 0 and are not counted).

The two *sum* modes (``token-sum-norm``, ``seq-sum-token-mean``) need no count at all: every
sequence contributes a fixed amount, so they are invariant by construction; their scale grows
with the batch (they reproduce per-sample weights of official code, e.g. HPT's balance).

Then ``sum over micro-batches and ranks of agg_loss(...) == agg_loss(whole batch)``
exactly, in value and gradient. DDP *averages* gradients over W processes, so a
DDP caller multiplies each rank's loss by W (tested in
`tests/core/test_aggregation.py`).

Masked positions are removed with `torch.where`, never by multiplication, so
inf/nan garbage at padded positions neither leaks into the value nor (as long
as the producer of `loss_mat` sanitised its own inputs) into the gradient.
"""

from __future__ import annotations

import torch
from torch import Tensor

AGG_MODES: tuple[str, ...] = (
    "token-mean",
    "seq-mean-token-mean",
    "seq-mean-token-sum",
    "seq-mean-token-sum-norm",
    "token-sum-norm",
    "seq-sum-token-mean",
)


def _count(value: int | float | Tensor | None, local: Tensor, like: Tensor) -> Tensor:
    """Global count if given, else the local one; never below 1 (an empty batch gives 0 loss)."""
    count = local if value is None else torch.as_tensor(value)
    return count.to(dtype=like.dtype, device=like.device).clamp(min=1)


def agg_loss(
    loss_mat: Tensor,
    mask: Tensor,
    mode: str,
    *,
    num_tokens: int | float | Tensor | None = None,
    num_seqs: int | float | Tensor | None = None,
    max_len: int | float | None = None,
) -> Tensor:
    """Reduce a per-token loss to a scalar.

    Args:
        loss_mat: (N, T) per-token loss; values at masked positions are ignored.
        mask: (N, T) 1/True for tokens that count (bool or 0/1 float).
        mode: one of `AGG_MODES`:
            - ``token-mean``: Σ_{i,t} l_it / num_tokens (DAPO eq. 8; TRL "dapo", verl default).
            - ``seq-mean-token-mean``: Σ_i (Σ_t l_it / |y_i|) / num_seqs
              (GRPO as written in DeepSeekMath eq. 3; HPT eq. 16).
            - ``seq-mean-token-sum``: Σ_i Σ_t l_it / num_seqs (sequence-level REINFORCE).
            - ``seq-mean-token-sum-norm``: Σ_i Σ_t l_it / max_len / num_seqs
              (Dr. GRPO, "Understanding R1-Zero" §3.1: a constant instead of |y_i|).
            - ``token-sum-norm``: Σ_i Σ_t l_it / max_len, no division by the number of
              sequences (the HPT/LUFFY official code's ``loss_remove_token_mean=True`` per
              micro-batch, written per sample).
            - ``seq-sum-token-mean``: Σ_i (Σ_t l_it / |y_i|), each sequence its own token
              mean, summed (HPT eq. 12 per demonstration; the official SFT token mean of a
              micro-batch holding one demonstration).
        num_tokens: global unmasked-token count (see module docstring); default local.
        num_seqs: global count of non-empty sequences; default local.
        max_len: the constant of Dr. GRPO (the generation budget). Default `T`
            (= loss_mat.shape[-1]); pass it explicitly when micro-batches are
            padded to different lengths, else the sum over micro-batches drifts.

    Returns:
        0-dim tensor.
    """
    if mode not in AGG_MODES:
        raise ValueError(f"unknown aggregation mode {mode!r}; valid: {', '.join(AGG_MODES)}")
    m = mask.bool()
    lm = torch.where(m, loss_mat, torch.zeros_like(loss_mat))  # (N, T), garbage-free

    if mode == "token-mean":
        return lm.sum() / _count(num_tokens, m.sum(), lm)

    seq_len = m.sum(-1)  # (N,)
    seq_sum = lm.sum(-1)  # (N,)
    n_seqs = _count(num_seqs, (seq_len > 0).sum(), lm)
    if mode == "seq-mean-token-mean":
        seq_val = seq_sum / seq_len.clamp(min=1).to(lm.dtype)  # empty rows: 0 / 1 = 0
        return seq_val.sum() / n_seqs
    if mode == "seq-mean-token-sum":
        return seq_sum.sum() / n_seqs
    if mode == "seq-sum-token-mean":
        return (seq_sum / seq_len.clamp(min=1).to(lm.dtype)).sum()
    horizon = float(loss_mat.shape[-1] if max_len is None else max_len)
    if mode == "token-sum-norm":
        return seq_sum.sum() / horizon
    # seq-mean-token-sum-norm
    return seq_sum.sum() / horizon / n_seqs
