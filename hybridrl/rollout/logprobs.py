"""Per-token log-probs (and entropy, hidden states) of completions under a model: the training hot path.

One forward over the batch ``[left-padded prompt | right-padded completion]``:

    position:   0 .. Lp-1 (prompt, left padded)    Lp .. Lp+T-1 (completion)
    logits at Lp-1+t predict completion token t   -> keep only the T positions Lp-1 .. Lp+T-2

Left-padding the prompts aligns every completion at column Lp, so the completion logits are one
contiguous slice for the whole batch. The LM head is applied to that slice only (HF
``logits_to_keep``), so no (N, L, V) tensor is ever built for the prompt part, and the log-softmax
is a gather minus a logsumexp (no (N, T, V) log-prob tensor beyond what autograd must keep).
"""

from __future__ import annotations

from typing import Any

import torch

from hybridrl.core.regularizers import entropy_for_logging, entropy_from_logits


def build_batch(
    prompt_ids: list[list[int]],
    prompt_index: torch.Tensor,
    completion_ids: torch.Tensor,
    completion_mask: torch.Tensor,
    pad_token_id: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """Concatenate each sample's (left-padded) prompt with its completion.

    Returns ``input_ids`` (N, Lp+T) long, ``attention_mask`` (N, Lp+T) long, ``position_ids``
    (N, Lp+T) long (0 at the first real prompt token, so results do not depend on padding) and
    ``Lp``, the padded prompt length (max over the prompts actually used).
    """
    n, t = completion_ids.shape
    device = completion_ids.device
    used = prompt_index.tolist()
    lengths = [len(prompt_ids[p]) for p in used]
    if any(length == 0 for length in lengths):
        raise ValueError("empty prompt: every sample needs at least one prompt token")
    lp = max(lengths)
    prompt_block = torch.full((n, lp), pad_token_id, dtype=torch.long)
    prompt_attn = torch.zeros((n, lp), dtype=torch.long)
    for row, (p, length) in enumerate(zip(used, lengths)):
        prompt_block[row, lp - length :] = torch.as_tensor(prompt_ids[p], dtype=torch.long)
        prompt_attn[row, lp - length :] = 1
    input_ids = torch.cat([prompt_block.to(device), completion_ids.long()], dim=1)
    attention_mask = torch.cat([prompt_attn.to(device), (completion_mask > 0).long()], dim=1)
    # Positions count real tokens only, so a sample's result does not depend on how much left
    # padding it got. Padding positions get arbitrary ids: they are masked as keys, and the
    # outputs at right (completion) padding are discarded; causality keeps them out of the rest.
    # (RoPE models are shift-invariant anyway; absolute-position models are not.)
    position_ids = (attention_mask.cumsum(dim=1) - 1).clamp(min=0)
    return input_ids, attention_mask, position_ids, lp


def sequence_logprobs(
    model: Any,
    prompt_ids: list[list[int]],
    prompt_index: torch.Tensor,
    completion_ids: torch.Tensor,
    completion_mask: torch.Tensor,
    *,
    temperature: float = 1.0,
    return_entropy: bool = False,
    entropy_grad: bool = True,
    return_hidden: bool = False,
    pad_token_id: int | None = None,
) -> dict[str, torch.Tensor]:
    """Log-probs of ``completion_ids`` given their prompts, in one forward pass with gradients.

    Args:
        model: an HF causal LM (or a PEFT wrapper of one).
        prompt_ids: P unpadded prompts (token ids).
        prompt_index: (N,) long, which prompt each sample continues.
        completion_ids: (N, T) long, right-padded completions.
        completion_mask: (N, T) 1 for real tokens, 0 for padding.
        temperature: logits are divided by it (the sampling temperature, so that the result is
            comparable with the generator's sampling log-probs).
        return_entropy: also return the token entropy.
        entropy_grad: keep the entropy differentiable (an entropy bonus needs it); False computes
            it without autograd, which saves a (N, T, V) tensor kept for backward.
        return_hidden: also return the last hidden states (for a value head).
        pad_token_id: id used for padding; default ``model.config.pad_token_id`` (or 0).

    Returns a dict with
        ``logprobs`` (N, T) float32: log softmax(z / temperature)[token], 0 at padding;
        ``entropy`` (N, T) float32: H = -sum softmax(z') * log_softmax(z'), z' = z / temperature
            (``core.regularizers.entropy_from_logits``),
            0 at padding (differentiable; detach it for logging);
        ``hidden`` (N, T, H): final-norm hidden state at the position that *predicts* each
            completion token (model dtype), 0 at padding.

    Gradients flow to ``model`` (this is called inside the training step). Completion columns
    that are padding for every sample are not run through the model.
    """
    ids, mask, t_full = _trim_padding_columns(completion_ids, completion_mask)
    t = ids.shape[1]
    out, lp = _forward(model, prompt_ids, prompt_index, ids, mask, pad_token_id, return_hidden)
    logits = out.logits[:, :-1, :]  # (N, T, V)
    if logits.shape[1] != t:
        raise RuntimeError("model ignored logits_to_keep; unsupported model class")
    result = _token_logprobs(logits, ids, mask, t_full, temperature, return_entropy, entropy_grad)
    if return_hidden:
        hidden = out.hidden_states[-1][:, lp - 1 : lp - 1 + t, :]  # (N, T, H)
        result["hidden"] = _pad_right(hidden * mask.unsqueeze(-1).to(hidden.dtype), t_full)
    return result


def _forward(model: Any, prompt_ids: list[list[int]], prompt_index: torch.Tensor, ids: torch.Tensor,
             mask: torch.Tensor, pad_token_id: int | None, return_hidden: bool) -> tuple[Any, int]:
    """The model's output on prompt + completion (left-padded prompts, see :func:`build_batch`),
    logits kept for the T + 1 positions Lp-1 .. Lp+T-1 only; and Lp."""
    if pad_token_id is None:
        pad_token_id = getattr(getattr(model, "config", None), "pad_token_id", None) or 0
    input_ids, attention_mask, position_ids, lp = build_batch(prompt_ids, prompt_index, ids, mask, pad_token_id)
    out = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids,
        use_cache=False,
        logits_to_keep=ids.shape[1] + 1,
        output_hidden_states=return_hidden,
    )
    return out, lp


def _trim_padding_columns(completion_ids: torch.Tensor,
                          completion_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(ids, bool mask) without the trailing columns that are padding everywhere (micro-batches
    often have shorter completions), and the full width T to pad the results back to."""
    if completion_ids.dim() != 2 or completion_ids.shape != completion_mask.shape:
        raise ValueError("completion_ids and completion_mask must both be (N, T)")
    t_full = completion_ids.shape[1]
    mask = completion_mask > 0
    real_cols = mask.any(dim=0).nonzero()
    t = int(real_cols.max()) + 1 if real_cols.numel() else 1
    return completion_ids[:, :t], mask[:, :t], t_full


def _token_logprobs(logits: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor, t_full: int, temperature: float,
                    return_entropy: bool, entropy_grad: bool) -> dict[str, torch.Tensor]:
    """``logprobs`` (and ``entropy``) of the completion tokens from their (N, T, V) logits at
    ``temperature``, 0 at padding, padded back to ``t_full`` columns."""
    z = logits.float()
    if temperature != 1.0:
        z = z / temperature
    lse = torch.logsumexp(z, dim=-1)  # (N, T)
    token_logits = z.gather(-1, ids.long().unsqueeze(-1)).squeeze(-1)  # (N, T)
    fmask = mask.to(z.dtype)
    result = {"logprobs": _pad_right((token_logits - lse) * fmask, t_full)}
    if return_entropy:
        if entropy_grad and torch.is_grad_enabled():
            # the one differentiable entropy of the package: stable, and p log p = 0 where a logit is -inf
            entropy = entropy_from_logits(z)
        else:  # only logged: the same value, without autograd's (N, T, V) intermediates
            entropy = entropy_for_logging(z.detach())
        result["entropy"] = _pad_right(entropy * fmask, t_full)
    return result


def _pad_right(x: torch.Tensor, t_full: int) -> torch.Tensor:
    """Zero-pad dim 1 of ``x`` back to ``t_full`` columns."""
    missing = t_full - x.shape[1]
    if missing <= 0:
        return x
    pad = x.new_zeros((x.shape[0], missing, *x.shape[2:]))
    return torch.cat([x, pad], dim=1)
