"""Per-token policy loss: the Unified Policy Gradient Estimator (HPT §3.1–3.2, eq. 6, Table 1).

    grad_uni = 1_stable · (1 / π_ref) · Â · ∇π_θ

`policy_loss` builds a per-token surrogate whose gradient is that estimator,
from three interchangeable choices (the fourth, Â, is the `advantages` input):

- ``denominator`` (π_ref, the reference-policy denominator), giving the ratio r = π_θ / π_ref:
    - ``rollout``:  π_ref = π_θold           r = exp(logp - old_logp)        (PPO, GRPO, CISPO)
    - ``detached``: π_ref = π_θ (no grad)    r ≡ 1, ∇r = ∇log π               (SFT, REINFORCE)
    - ``one``:      π_ref ≡ 1                r = π_θ = exp(logp)              (offline: LUFFY, SRFT)
    - ``gspo``:     π_ref = π_θ (π_θold(y)/π_θ(y))^{1/|y|}, i.e. r_t = sg(s_i) · π_θ/sg(π_θ)
                    with s_i = exp(mean_t(logp - old_logp)) (GSPO eq. 7, "GSPO-token" eq. 13)
- ``shaping``: None or ``luffy``: r -> f(r) = r / (r + γ) (LUFFY §3.3 policy shaping,
  γ = ``shaping_gamma``), applied to the ratio; call it for off-policy tokens only.
- ``clip`` (1_stable, the stabilization mask):
    - ``none``:  l = -A r
    - ``ppo``:   l = -min(A r, A clip(r, 1-ε_low, 1+ε_high))  (PPO; DAPO clip-higher with ε_high)
    - ``dual``:  ppo, then for A < 0: l = min(l, -A c)          (dual-clip, Ye et al. 2020, c > 1)
    - ``cispo``: l = -sg(clip(r, 1-ε_low, 1+ε_high)) · A · log π (MiniMax-M1 §3.1 eq. 4):
                 the truncated IS weight carries no gradient, no token is dropped
    - ``gspo``:  ppo clipping of the sequence ratio (needs ``denominator="gspo"``)

With ``denominator="detached"`` the ratio is identically 1, so no clip is ever
active and the surrogate is written as l = -A · log π: same gradient
(-A ∇log π), and the loss *value* is the (weighted) NLL rather than the constant -A.

Masked positions (mask = 0) may hold inf/nan garbage in any input: every input
is sanitised with `torch.where` before use, so neither values nor gradients
see it, and the per-token loss is 0 there.
"""

from __future__ import annotations

import torch
from torch import Tensor

DENOMINATORS: tuple[str, ...] = ("rollout", "detached", "one", "gspo")
SHAPINGS: tuple[str | None, ...] = (None, "luffy")
CLIPS: tuple[str, ...] = ("none", "ppo", "dual", "cispo", "gspo")

_LOG_RATIO_CLAMP = 20.0  # exp(±20): keeps a stale old_logp from overflowing; such tokens are clipped anyway


def _masked_mean(x: Tensor, m: Tensor) -> Tensor:
    return torch.where(m, x, torch.zeros_like(x)).sum() / m.sum().clamp(min=1)


def _ratio_metrics(ratio: Tensor, m: Tensor) -> dict[str, Tensor]:
    r = ratio.detach()
    if not bool(m.any()):
        zero = torch.zeros((), dtype=r.dtype, device=r.device)
        return {"ratio_mean": zero, "ratio_min": zero, "ratio_max": zero}
    return {
        "ratio_mean": _masked_mean(r, m),
        "ratio_min": torch.where(m, r, torch.full_like(r, float("inf"))).min(),
        "ratio_max": torch.where(m, r, torch.full_like(r, float("-inf"))).max(),
    }


def policy_loss(
    logp: Tensor,
    old_logp: Tensor | None,
    advantages: Tensor,
    mask: Tensor,
    *,
    denominator: str = "rollout",
    shaping: str | None = None,
    shaping_gamma: float = 0.1,
    clip: str = "ppo",
    eps_low: float = 0.2,
    eps_high: float | None = None,
    dual_clip_c: float | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """Per-token policy-gradient surrogate (HPT eq. 6 / Table 1); aggregate with `agg_loss`.

    Args:
        logp: (N, T) log π_θ(y_t | ·) of the taken tokens, with grad.
        old_logp: (N, T) log π_θold (sampling policy); needed for ``rollout``
            and ``gspo``, ignored (may be None) otherwise.
        advantages: (N,) per sequence, (N, T) per token, or 0-dim. Treated as
            constants (detached).
        mask: (N, T) 1 for tokens that are trained on.
        denominator, shaping, clip: see the module docstring.
        shaping_gamma: γ of LUFFY's f(r) = r / (r + γ) (LUFFY default 0.1).
        eps_low, eps_high: clip range [1 - eps_low, 1 + eps_high]; eps_high
            defaults to eps_low (DAPO clip-higher uses 0.2 / 0.28).
        dual_clip_c: c of dual-clip (default 3.0, must be > 1).

    Returns:
        per_token_loss (N, T), 0 at masked positions;
        metrics: detached 0-dim tensors `ratio_mean`, `ratio_min`, `ratio_max`
        (ratio before shaping, over unmasked tokens), `clipfrac` (tokens whose
        gradient the clip removed, or whose IS weight CISPO truncated),
        `clipfrac_low`, `clipfrac_high`, and `dual_clipfrac` for ``dual``.
    """
    if denominator not in DENOMINATORS:
        raise ValueError(f"unknown denominator {denominator!r}; valid: {', '.join(DENOMINATORS)}")
    if shaping not in SHAPINGS:
        raise ValueError(f"unknown shaping {shaping!r}; valid: {SHAPINGS}")
    if clip not in CLIPS:
        raise ValueError(f"unknown clip {clip!r}; valid: {', '.join(CLIPS)}")
    if clip == "gspo" and denominator != "gspo":
        raise ValueError('clip="gspo" clips the sequence ratio: use denominator="gspo"')
    if denominator == "detached" and shaping is not None:
        raise ValueError('shaping of a detached ratio (≡ 1) is meaningless; use denominator="one"')
    if denominator in ("rollout", "gspo") and old_logp is None:
        raise ValueError(f'denominator="{denominator}" needs old_logp')
    eps_high = eps_low if eps_high is None else eps_high

    m = mask.bool()
    zero = torch.zeros_like(logp)
    lp = torch.where(m, logp, zero)  # sanitised: garbage never enters an op
    adv = advantages.detach().to(logp.dtype)
    if adv.dim() == 1:
        adv = adv.unsqueeze(-1)  # (N,) -> (N, 1), broadcast over tokens
    adv = torch.where(m, adv.expand_as(lp), zero)

    # --- ratio r = π_θ / π_ref (the reference-policy denominator) ---
    if denominator == "rollout":
        old = torch.where(m, old_logp.detach(), zero)
        ratio = torch.exp((lp - old).clamp(-_LOG_RATIO_CLAMP, _LOG_RATIO_CLAMP))
    elif denominator == "detached":
        ratio = torch.exp(lp - lp.detach())  # ≡ 1, gradient ∇log π
    elif denominator == "one":
        ratio = torch.exp(lp)  # π_θ itself
    else:  # gspo: s_i = exp(mean_t log(π/π_old)), token form sg(s_i) · π_t / sg(π_t)
        old = torch.where(m, old_logp.detach(), zero)
        seq_len = m.sum(-1, keepdim=True).clamp(min=1)
        seq_log_ratio = ((lp - old).sum(-1, keepdim=True) / seq_len).clamp(-_LOG_RATIO_CLAMP, _LOG_RATIO_CLAMP)
        ratio = torch.exp(seq_log_ratio.detach() + lp - lp.detach())  # (N, T); value s_i on every token

    metrics = _ratio_metrics(ratio, m)
    r = ratio / (ratio + shaping_gamma) if shaping == "luffy" else ratio  # LUFFY f(r)

    lo, hi = 1.0 - eps_low, 1.0 + eps_high
    if denominator == "detached" and clip != "cispo":
        loss = -adv * lp  # r ≡ 1 is never clipped: same gradient as -A r, value = weighted NLL
        low = high = torch.zeros_like(m)
    elif clip == "none":
        loss = -adv * r
        low = high = torch.zeros_like(m)
    elif clip == "cispo":
        w = r.detach().clamp(lo, hi)  # truncated IS weight, no gradient (MiniMax-M1 eq. 4)
        loss = -w * adv * lp
        low, high = r.detach() < lo, r.detach() > hi
    else:  # ppo, dual, gspo
        unclipped = -adv * r
        clipped = -adv * r.clamp(lo, hi)
        loss = torch.maximum(unclipped, clipped)  # = -min(A r, A clip(r))
        # the clipped branch wins strictly -> zero gradient for this token
        low = (r.detach() < lo) & (adv < 0)
        high = (r.detach() > hi) & (adv > 0)
        if clip == "dual":
            c = 3.0 if dual_clip_c is None else dual_clip_c
            if c <= 1.0:
                raise ValueError(f"dual_clip_c must be > 1, got {c}")
            cap = -adv * c  # bound on the loss of negative-advantage tokens with huge r
            dual = (adv < 0) & (loss.detach() > cap)
            loss = torch.where(adv < 0, torch.minimum(loss, cap), loss)
            metrics["dual_clipfrac"] = _masked_mean(dual.to(logp.dtype), m).detach()

    metrics["clipfrac_low"] = _masked_mean(low.to(logp.dtype), m).detach()
    metrics["clipfrac_high"] = _masked_mean(high.to(logp.dtype), m).detach()
    metrics["clipfrac"] = metrics["clipfrac_low"] + metrics["clipfrac_high"]
    loss = torch.where(m, loss, zero)
    return loss, metrics
