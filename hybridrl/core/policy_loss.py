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

Each choice is a small registered function (as verl's ``core_algos`` registers its
policy losses): `register_denominator`, `register_shaping`, `register_clip`. `policy_loss`
only composes them: ratio -> metrics -> shaping -> stabilised surrogate. A new component is
one decorated function here; presets (`hybridrl.core.presets`) name it.

Masked positions (mask = 0) may hold inf/nan garbage in any input: every input
is sanitised with `torch.where` before use, so neither values nor gradients
see it, and the per-token loss is 0 there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

_LOG_RATIO_CLAMP = 20.0  # exp(±20): keeps a stale old_logp from overflowing; such tokens are clipped anyway
_GSPO_LOG_RATIO_MAX = 10.0  # GSPO's sequence log ratio, as verl


# ---------------------------------------------------------------------------------------
# registries

RatioFn = Callable[[Tensor, "Tensor | None", Tensor], Tensor]
"""(lp, old, m) -> r (N, T): lp, old sanitised (0 at masked positions), m the bool mask."""
ShapingFn = Callable[[Tensor, float], Tensor]
"""(r, γ) -> f(r)."""
ClipFn = Callable[["ClipInputs"], "Surrogate"]


@dataclass(frozen=True)
class Denominator:
    """A reference-policy denominator π_ref and the ratio r = π_θ / π_ref it gives."""

    ratio: RatioFn
    needs_old: bool
    """Needs ``old_logp`` (the sampling policy)."""
    ratio_is_one: bool = False
    """r ≡ 1 (value) with ∇r = ∇log π: the surrogate is written -A log π (see the module docstring)."""


@dataclass(frozen=True)
class ClipInputs:
    """What a stabilisation mask sees (all (N, T), sanitised, 0 at masked positions)."""

    r: Tensor
    """ratio after shaping (with grad)."""
    adv: Tensor
    """advantages broadcast to tokens (constant)."""
    lp: Tensor
    """log π_θ (with grad)."""
    m: Tensor
    """bool mask."""
    lo: float
    """1 - ε_low."""
    hi: float
    """1 + ε_high."""
    dual_clip_c: float | None


@dataclass(frozen=True)
class Surrogate:
    """A stabilised per-token surrogate and which tokens its clip acted on."""

    loss: Tensor
    """(N, T) per-token loss."""
    low: Tensor
    """(N, T) bool: tokens clipped at the lower bound (gradient removed or weight truncated)."""
    high: Tensor
    """(N, T) bool: the same at the upper bound."""
    metrics: dict[str, Tensor]
    """Extra detached metrics (e.g. ``dual_clipfrac``)."""


_DENOMINATORS: dict[str, Denominator] = {}
_SHAPINGS: dict[str | None, ShapingFn] = {}
_CLIPS: dict[str, ClipFn] = {}


def register_denominator(name: str, *, needs_old: bool, ratio_is_one: bool = False):
    def deco(fn: RatioFn) -> RatioFn:
        _DENOMINATORS[name] = Denominator(fn, needs_old, ratio_is_one)
        return fn

    return deco


def register_shaping(name: str | None):
    def deco(fn: ShapingFn) -> ShapingFn:
        _SHAPINGS[name] = fn
        return fn

    return deco


def register_clip(name: str):
    def deco(fn: ClipFn) -> ClipFn:
        _CLIPS[name] = fn
        return fn

    return deco


# ---------------------------------------------------------------------------------------
# reference-policy denominators: r = π_θ / π_ref


@register_denominator("rollout", needs_old=True)
def _ratio_rollout(lp: Tensor, old: Tensor | None, m: Tensor) -> Tensor:
    return torch.exp((lp - old).clamp(-_LOG_RATIO_CLAMP, _LOG_RATIO_CLAMP))  # π_θ / π_θold


@register_denominator("detached", needs_old=False, ratio_is_one=True)
def _ratio_detached(lp: Tensor, old: Tensor | None, m: Tensor) -> Tensor:
    return torch.exp(lp - lp.detach())  # ≡ 1, gradient ∇log π


@register_denominator("one", needs_old=False)
def _ratio_one(lp: Tensor, old: Tensor | None, m: Tensor) -> Tensor:
    return torch.exp(lp)  # π_θ itself


@register_denominator("gspo", needs_old=True)
def _ratio_gspo(lp: Tensor, old: Tensor | None, m: Tensor) -> Tensor:
    # s_i = exp(mean_t log(π/π_old)), token form sg(s_i) · π_t / sg(π_t)  (GSPO eq. 7, 13)
    seq_len = m.sum(-1, keepdim=True).clamp(min=1)
    # clamped above at 10 as verl's compute_policy_loss_gspo (no lower clamp: exp(-large) -> 0 is harmless)
    seq_log_ratio = ((lp - old).sum(-1, keepdim=True) / seq_len).clamp(max=_GSPO_LOG_RATIO_MAX)
    return torch.exp(seq_log_ratio.detach() + lp - lp.detach())  # (N, T); value s_i on every token


# ---------------------------------------------------------------------------------------
# shaping f(r)


@register_shaping(None)
def _no_shaping(r: Tensor, gamma: float) -> Tensor:
    return r


@register_shaping("luffy")
def _luffy_shaping(r: Tensor, gamma: float) -> Tensor:
    return r / (r + gamma)  # LUFFY §3.3 f(r) = r / (r + γ)


# ---------------------------------------------------------------------------------------
# stabilisation masks 1_stable


def _none_clipped(x: ClipInputs) -> tuple[Tensor, Tensor]:
    z = torch.zeros_like(x.m)
    return z, z


def _log_likelihood(x: ClipInputs) -> Surrogate:
    """r ≡ 1 is never clipped: same gradient as -A r, value = weighted NLL."""
    return Surrogate(-x.adv * x.lp, *_none_clipped(x), {})


@register_clip("none")
def _clip_none(x: ClipInputs) -> Surrogate:
    return Surrogate(-x.adv * x.r, *_none_clipped(x), {})


@register_clip("ppo")
def _clip_ppo(x: ClipInputs) -> Surrogate:
    unclipped = -x.adv * x.r
    clipped = -x.adv * x.r.clamp(x.lo, x.hi)
    loss = torch.maximum(unclipped, clipped)  # = -min(A r, A clip(r))
    # the clipped branch wins strictly -> zero gradient for this token
    low = (x.r.detach() < x.lo) & (x.adv < 0)
    high = (x.r.detach() > x.hi) & (x.adv > 0)
    return Surrogate(loss, low, high, {})


@register_clip("dual")
def _clip_dual(x: ClipInputs) -> Surrogate:
    c = 3.0 if x.dual_clip_c is None else x.dual_clip_c
    if c <= 1.0:
        raise ValueError(f"dual_clip_c must be > 1, got {c}")
    ppo = _clip_ppo(x)
    cap = -x.adv * c  # bound on the loss of negative-advantage tokens with huge r
    dual = (x.adv < 0) & (ppo.loss.detach() > cap)
    loss = torch.where(x.adv < 0, torch.minimum(ppo.loss, cap), ppo.loss)
    return Surrogate(loss, ppo.low, ppo.high, {"dual_clipfrac": _masked_mean(dual.to(x.lp.dtype), x.m).detach()})


@register_clip("cispo")
def _clip_cispo(x: ClipInputs) -> Surrogate:
    w = x.r.detach().clamp(x.lo, x.hi)  # truncated IS weight, no gradient (MiniMax-M1 eq. 4)
    return Surrogate(-w * x.adv * x.lp, x.r.detach() < x.lo, x.r.detach() > x.hi, {})


register_clip("gspo")(_clip_ppo)  # ppo clipping of the sequence ratio (needs denominator="gspo")


DENOMINATORS: tuple[str, ...] = tuple(_DENOMINATORS)
SHAPINGS: tuple[str | None, ...] = tuple(_SHAPINGS)
CLIPS: tuple[str, ...] = tuple(_CLIPS)


# ---------------------------------------------------------------------------------------
# composition


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


def _check_choice(denominator: str, shaping: str | None, clip: str, old_logp: Tensor | None) -> Denominator:
    if denominator not in _DENOMINATORS:
        raise ValueError(f"unknown denominator {denominator!r}; valid: {', '.join(DENOMINATORS)}")
    if shaping not in _SHAPINGS:
        raise ValueError(f"unknown shaping {shaping!r}; valid: {SHAPINGS}")
    if clip not in _CLIPS:
        raise ValueError(f"unknown clip {clip!r}; valid: {', '.join(CLIPS)}")
    if clip == "gspo" and denominator != "gspo":
        raise ValueError('clip="gspo" clips the sequence ratio: use denominator="gspo"')
    den = _DENOMINATORS[denominator]
    if den.ratio_is_one and shaping is not None:
        raise ValueError('shaping of a detached ratio (≡ 1) is meaningless; use denominator="one"')
    if den.needs_old and old_logp is None:
        raise ValueError(f'denominator="{denominator}" needs old_logp')
    return den


def _sanitise(logp: Tensor, old_logp: Tensor | None, advantages: Tensor, mask: Tensor):
    """(lp, old, adv, m): inputs with 0 at masked positions, advantages broadcast to (N, T)."""
    m = mask.bool()
    zero = torch.zeros_like(logp)
    lp = torch.where(m, logp, zero)  # sanitised: garbage never enters an op
    old = None if old_logp is None else torch.where(m, old_logp.detach(), zero)
    adv = advantages.detach().to(logp.dtype)
    if adv.dim() == 1:
        adv = adv.unsqueeze(-1)  # (N,) -> (N, 1), broadcast over tokens
    adv = torch.where(m, adv.expand_as(lp), zero)
    return lp, old, adv, m


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
        denominator, shaping, clip: see the module docstring (registered names).
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
    den = _check_choice(denominator, shaping, clip, old_logp)
    eps_high = eps_low if eps_high is None else eps_high
    lp, old, adv, m = _sanitise(logp, old_logp, advantages, mask)
    ratio = den.ratio(lp, old, m)  # r = π_θ / π_ref
    metrics = _ratio_metrics(ratio, m)
    r = _SHAPINGS[shaping](ratio, shaping_gamma)
    surrogate = _log_likelihood if den.ratio_is_one else _CLIPS[clip]
    out = surrogate(ClipInputs(r, adv, lp, m, 1.0 - eps_low, 1.0 + eps_high, dual_clip_c))
    metrics.update(out.metrics)
    metrics["clipfrac_low"] = _masked_mean(out.low.to(logp.dtype), m).detach()
    metrics["clipfrac_high"] = _masked_mean(out.high.to(logp.dtype), m).detach()
    metrics["clipfrac"] = metrics["clipfrac_low"] + metrics["clipfrac_high"]
    loss = torch.where(m, out.loss, torch.zeros_like(logp))
    return loss, metrics
