"""Algorithms as presets of the Unified Policy Gradient Estimator (HPT §3.1, Table 1).

A preset fixes the four components (stabilization mask = `clip`, reference
denominator = `denominator` (+ `shaping`), advantage estimate = `advantage`,
likelihood gradient = ∇π via the ratio) and the aggregation mode its paper
uses. `term_loss` is the single entry point the training loop calls per loss
term; the loop never branches on the method name.

Aggregation choices (the paper's, unless noted):
- ``grpo`` uses ``token-mean``, not DeepSeekMath's ``seq-mean-token-mean``
  (eq. 3, 1/|o_i| inside the group mean): the per-sequence mean biases towards
  short correct / long wrong answers (Dr. GRPO §3.1, DAPO §3.3), and TRL's
  current default (`loss_type="dapo"`) and verl's default are the token mean.
  The team's method specs fix token-mean for GRPO (docs/methods.md). Use ``seq-mean-token-mean`` with
  `agg_loss` directly to reproduce the original.
- ``reinforce`` / ``rloo``: sequence-level estimators (Ahmadian et al. 2024
  use log π(y) = Σ_t log π(y_t)), hence ``seq-mean-token-sum``.

Clipping choices:
- GRPO (and every ``ppo``-clipped preset) does *not* dual-clip by default, although verl's
  vanilla policy loss always does (c = 3). Dual-clip (Ye et al. 2020) is not part of PPO,
  DeepSeekMath's GRPO (eq. 3), TRL's GRPOTrainer or the HPT/LUFFY official losses; it only
  acts on tokens with A < 0 and ratio > c, which cannot occur at the first update of a batch
  (ratio ≡ 1) and are rare after. ``rl_preset=grpo_dual`` is GRPO with verl's dual-clip
  (c = ``dual_clip_c``, default 3).
- GSPO's sequence log-ratio is clamped above at 10 as verl (``policy_loss``); k3 KL is
  clamped as verl's ``low_var_kl`` (``regularizers.kl_penalty``).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from hybridrl.core.advantages import ADVANTAGES, srft_weights
from hybridrl.core.aggregation import AGG_MODES
from hybridrl.core.policy_loss import CLIPS, DENOMINATORS, SHAPINGS, policy_loss
from hybridrl.core.token_weights import TOKEN_WEIGHTS, sft_token_weights

_ADVANTAGE_KINDS = (*ADVANTAGES, "constant", "gae", "given")
_WEIGHTINGS = (None, "srft_sft", "srft_rollout")


@dataclass(frozen=True)
class Preset:
    """One algorithm = one choice of each estimator component."""

    name: str
    """Registry key."""
    denominator: str
    """π_ref: "rollout" | "detached" | "one" | "gspo" (see `policy_loss`)."""
    shaping: str | None
    """None or "luffy" (f(r) = r / (r + γ))."""
    clip: str
    """Stabilization mask: "none" | "ppo" | "dual" | "cispo" | "gspo"."""
    advantage: str
    """Which estimator the controller should use to build `advantages`: a key of
    `ADVANTAGES`, "gae" (needs a critic), "constant" (Â ≡ 1, pass None) or "given"
    (the caller's own signal, e.g. binary rewards for SRFT)."""
    agg_mode: str
    """The paper's aggregation mode (one of `AGG_MODES`)."""
    doc: str
    """Paper and equation this preset reproduces."""
    eps_low: float | None = None
    """Paper default for ε_low when the caller passes None (else 0.2)."""
    eps_high: float | None = None
    """Paper default for ε_high when the caller passes None (else = ε_low)."""
    weighting: str | None = None
    """Entropy-aware weights applied on top of Â: None, "srft_sft" or "srft_rollout"."""
    token_weight: str | None = None
    """Detached per-token weight sg(φ(p_t)) of an SFT term (``core.token_weights``): "nll",
    "dft" or "phi" (CHORD). None: an SFT preset (advantage "constant") follows the caller's
    ``sft_loss_type``; other presets are not token-weighted."""

    def __post_init__(self) -> None:
        if self.denominator not in DENOMINATORS:
            raise ValueError(f"{self.name}: bad denominator {self.denominator!r}")
        if self.shaping not in SHAPINGS:
            raise ValueError(f"{self.name}: bad shaping {self.shaping!r}")
        if self.clip not in CLIPS:
            raise ValueError(f"{self.name}: bad clip {self.clip!r}")
        if self.advantage not in _ADVANTAGE_KINDS:
            raise ValueError(f"{self.name}: bad advantage {self.advantage!r}")
        if self.agg_mode not in AGG_MODES:
            raise ValueError(f"{self.name}: bad agg_mode {self.agg_mode!r}")
        if self.weighting not in _WEIGHTINGS:
            raise ValueError(f"{self.name}: bad weighting {self.weighting!r}")
        bad_weight = self.token_weight not in TOKEN_WEIGHTS or self.advantage != "constant"
        if self.token_weight is not None and bad_weight:
            raise ValueError(f"{self.name}: token_weight {self.token_weight!r} needs an SFT preset (advantage constant)")


_PRESETS = (
    Preset(
        "sft", "detached", None, "none", "constant", "token-mean",
        "SFT: token-mean NLL over all demonstration tokens of the step. HPT Table 1 "
        "row SFT (π_ref = π_θ, Â ≡ 1), eq. 14-15. HPT eq. 12 is written for one "
        "demonstration (1/|τ*| Σ_t); over several, the token mean weighs each "
        "demonstration by its length (as the official compute_sft_pure_loss over a "
        "micro-batch); `seq-mean-token-mean` gives the mean of per-demonstration means.",
    ),
    Preset(
        "sft_seq_sum", "detached", None, "none", "constant", "seq-mean-token-sum",
        "SFT as SASR eq. 2 writes it: −E[Σ_t log π(y_t | x, y_<t)], a token *sum* per "
        "demonstration averaged over demonstrations (SASR's default; sasr_sft_loss=mean "
        "selects the token mean `sft`).",
    ),
    Preset(
        "sft_sum_norm", "detached", None, "none", "constant", "seq-mean-token-sum-norm",
        "SFT with the per-question normaliser of HPT eq. 11 (Σ tokens / max_len): HPT's SFT "
        "term under hpt_balance=question, so that a gated question's demonstration and an RL "
        "question's rollouts weigh their tokens alike (one question, one vote; eq. 13).",
    ),
    Preset(
        "reinforce", "detached", None, "none", "reinforce", "seq-mean-token-sum",
        "REINFORCE: HPT Table 1 (π_ref = π_θ, Â = ±1); Ahmadian et al. 2024 "
        "'Back to Basics' eq. 5, sequence-level log-likelihood.",
    ),
    Preset(
        "rloo", "detached", None, "none", "rloo", "seq-mean-token-sum",
        "RLOO: Ahmadian et al. 2024 eq. 6, leave-one-out baseline, "
        "sequence-level log-likelihood.",
    ),
    Preset(
        "ppo", "rollout", None, "ppo", "gae", "token-mean",
        "PPO: Schulman et al. 2017 eq. 7 (clipped surrogate) with GAE; "
        "HPT Table 1 row PPO (π_ref = π_θold, Â = GAE, 1_clip).",
    ),
    Preset(
        "grpo", "rollout", None, "ppo", "grpo", "token-mean",
        "GRPO: DeepSeekMath (Shao et al. 2024) eq. 3 with the group-normalised "
        "advantage of §4.1.2; HPT Table 1 row GRPO, eq. 16-17. Token-mean "
        "aggregation (TRL default), not the paper's per-sequence mean.",
    ),
    Preset(
        "grpo_dual", "rollout", None, "dual", "grpo", "token-mean",
        "GRPO with dual-clip (Ye et al. 2020, c = dual_clip_c, default 3) on negative-"
        "advantage tokens, as verl's vanilla policy loss always applies it.",
    ),
    Preset(
        "dr_grpo", "rollout", None, "ppo", "dr_grpo", "seq-mean-token-sum-norm",
        "Dr. GRPO: 'Understanding R1-Zero-Like Training' (Liu et al. 2025) §3.1 "
        "eq. 3: no std in Â, token sum divided by a constant (max length). "
        "HPT's RL term (eq. 11).",
    ),
    Preset(
        "dapo", "rollout", None, "ppo", "grpo", "token-mean",
        "DAPO (Yu et al. 2025) eq. 8: clip-higher ε_low = 0.2, ε_high = 0.28, "
        "token-level loss (§3.3). Dynamic sampling is the controller's job.",
        eps_low=0.2, eps_high=0.28,
    ),
    Preset(
        "gspo", "gspo", None, "gspo", "grpo", "seq-mean-token-mean",
        "GSPO (Zheng et al. 2025) eq. 5-7: sequence ratio "
        "s_i = (π_θ(y_i)/π_θold(y_i))^{1/|y_i|}, sequence clipping, ranges "
        "3e-4 / 4e-4 (§5.1); HPT Table 1 row GSPO.",
        eps_low=3e-4, eps_high=4e-4,
    ),
    Preset(
        "cispo", "rollout", None, "cispo", "grpo", "token-mean",
        "CISPO: MiniMax-M1 (Chen et al. 2025) §3.1 eq. 4-5: truncated, detached "
        "IS weight times log π, token-level normalisation; no lower bound "
        "(ε_low large, here 1.0); ε_high tuned in the paper, default 0.2 here. "
        "HPT Table 1 row CISPO.",
        eps_low=1.0, eps_high=0.2,
    ),
    Preset(
        "luffy_off_policy", "one", "luffy", "none", "dr_grpo", "seq-mean-token-sum-norm",
        "LUFFY (Yan et al. 2025) §3.3, off-policy (demonstration) tokens: "
        "π_ref ≡ 1, policy shaping f(π) = π/(π+γ), γ = 0.1, no clipping; group "
        "advantage over on ∪ off without std; Σ tokens / max_len over the mixed "
        "on + off batch (official loss_remove_token_mean True). HPT Table 1 row LUFFY.",
    ),
    Preset(
        "luffy_on_policy", "rollout", None, "none", "dr_grpo", "seq-mean-token-sum-norm",
        "LUFFY (Yan et al. 2025) on-policy tokens as the official scripts run them "
        "(loss_remove_clip True): the unclipped ratio π_θ/π_θold, same group "
        "advantage as the off-policy tokens, Σ tokens / max_len over the mixed batch.",
    ),
    Preset(
        "srft_off_policy", "one", "luffy", "none", "dr_grpo", "seq-mean-token-sum-norm",
        "SRFT (Fu et al. 2025) off-policy RL on the demonstrations, as HPT Table 1 / eq. 19 "
        "lists it and as the official code runs it (train_srft.sh: off_policy_reshape "
        "p_div_p_0.1, grpo_use_std False, loss_remove_token_mean True): π_ref ≡ 1, shaping "
        "f(π) = π/(π+0.1), no clipping, Â = R − mean over the group of rollouts ∪ "
        "demonstration; Σ tokens / max_len, normalised together with the rollout term.",
    ),
    Preset(
        "srft", "detached", None, "none", "given", "seq-mean-token-sum-norm",
        "SRFT (Fu et al. 2025) §4, on-policy rollouts: positive samples "
        "(advantages = binary reward > 0) weighted 0.1·exp(H_i), negative samples "
        "weight -1 (plain policy gradient pushing log π down); H_i = detached entropy "
        "of sequence i (masked mean, `srft_weights`). Σ tokens / max_len like the "
        "official code (loss_remove_token_mean True); docs/methods.md, SRFT.",
        weighting="srft_rollout",
    ),
    Preset(
        "srft_sft", "detached", None, "none", "constant", "token-mean",
        "SRFT (Fu et al. 2025) §4, demonstration tokens: NLL weighted "
        "0.5·exp(-H_i), H_i = detached entropy of demonstration i under the policy "
        "(masked mean, `srft_weights`); token mean over demonstration tokens as "
        "the official compute_sft_pure_loss.",
        weighting="srft_sft",
    ),
    Preset(
        "hpt_rl_official", "rollout", None, "none", "dr_grpo", "token-sum-norm",
        "HPT's RL term as its official code runs it (exp_scripts/train.sh: grpo_use_std False, "
        "loss_remove_clip True, loss_remove_token_mean True): Â = R − mean, no clipping, "
        "Σ tokens / max_len with no division by the number of sequences (per sample). "
        "Selected by hpt_balance=official.",
    ),
    Preset(
        "hpt_sft_official", "detached", None, "none", "constant", "seq-sum-token-mean",
        "HPT's SFT term as its official code weighs it per sample: each demonstration's "
        "token-mean NLL (eq. 12, compute_sft_pure_loss on a micro-batch holding it), "
        "summed over demonstrations; times hpt_sft_coef. Selected by hpt_balance=official.",
    ),
    Preset(
        "hpt_off_official", "one", "luffy", "none", "dr_grpo", "token-sum-norm",
        "HPT OFF/ON and Mix/ON off-policy demonstration term under hpt_balance=official: "
        "LUFFY's shaped term f(π) = π/(π+0.1), π_ref ≡ 1, with the same Σ tokens / max_len "
        "as the official rollouts (compute_token_on_off_policy_loss).",
    ),
)

# --- CHORD  ---
_PRESETS += (
    Preset(
        "chord_sft", "detached", None, "none", "constant", "token-mean",
        "CHORD (Zhang et al. 2025, arXiv 2508.11408) L_SFT*: NLL of each demonstration token weighted "
        "by sg(φ(p_t)), φ(p) = p(1 − p); token mean over the demonstration tokens (Trinity-RFT "
        "SFTPhiLossFn, use_token_level_loss True).",
        token_weight="phi",
    ),
)

PRESETS: dict[str, Preset] = {p.name: p for p in _PRESETS}


def get_preset(name: str | Preset) -> Preset:
    """Look up a preset by name (a `Preset` is returned unchanged)."""
    if isinstance(name, Preset):
        return name
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; valid: {', '.join(sorted(PRESETS))}") from None


def _weighted_advantages(p: Preset, adv: Tensor, logp: Tensor, mask: Tensor, entropy: Tensor | None,
                         sft_loss_type: str) -> tuple[Tensor, dict[str, Tensor]]:
    """The advantages times the preset's weights: SRFT's per-sequence entropy weights, then the
    per-token sg(φ(p_t)) of a weighted SFT (``core.token_weights``); and their mean metrics."""
    extra: dict[str, Tensor] = {}
    if p.weighting is not None:
        if entropy is None:
            raise ValueError(f"preset {p.name!r} needs `entropy`")
        if p.weighting == "srft_sft":
            w = srft_weights(entropy, mask)  # (N,): 0.5·exp(-H_i), H_i of each demonstration
            adv = adv * w
        else:
            adv = srft_weights(entropy, mask, rewards=adv)  # (N,): 0.1·exp(H_i) or -1
        extra["srft_weight_mean"] = adv.detach().float().mean()
    kind = p.token_weight or (sft_loss_type if p.advantage == "constant" else "nll")
    if kind != "nll":  # per-token sg(φ(p_t)) before the aggregation
        w = sft_token_weights(logp, mask, kind)  # (N, T)
        adv = adv.unsqueeze(-1) * w if adv.dim() == 1 else adv * w
        extra["token_weight_mean"] = (w.sum() / mask.sum().clamp(min=1)).detach().float()
    return adv, extra


def term_loss(
    preset: str | Preset,
    logp: Tensor,
    old_logp: Tensor | None,
    advantages: Tensor | None,
    mask: Tensor,
    *,
    entropy: Tensor | None = None,
    eps_low: float | None = None,
    eps_high: float | None = None,
    dual_clip_c: float | None = None,
    shaping_gamma: float = 0.1,
    sft_loss_type: str = "nll",
) -> tuple[Tensor, dict[str, Tensor]]:
    """Per-token loss of one loss term under `preset` (HPT eq. 6); reduce with
    `agg_loss(loss, mask, preset.agg_mode, ...)`.

    Args:
        preset: name in `PRESETS` or a `Preset`.
        logp: (N, T) log π_θ of the taken tokens (with grad).
        old_logp: (N, T) sampling log-probs; may be None for the "detached"
            and "one" denominators.
        advantages: (N,) or (N, T) from the caller (`ADVANTAGES`, `gae_advantages`,
            or binary rewards for "srft"). None for "constant" presets (Â ≡ 1);
            a tensor given to a "constant" preset is used as a per-sequence/token weight.
        mask: (N, T).
        entropy: (N, T) token entropies of these very sequences; needed by the SRFT
            presets, which weight each sequence by its own detached mean entropy
            (`srft_weights`), ignored otherwise.
        eps_low, eps_high: clip range; None -> the preset's paper value
            (`Preset.eps_low` / `eps_high`), else ε_low = 0.2, ε_high = ε_low.
        dual_clip_c, shaping_gamma: see `policy_loss`.
        sft_loss_type: token weighting of SFT presets (advantage "constant") that fix none
            themselves: "nll" (φ ≡ 1) or "dft" (sg(p_t), TRL ``loss_type="dft"``).
    Returns:
        (per_token_loss (N, T), metrics dict of detached 0-dim tensors).
    """
    p = get_preset(preset)
    if advantages is None:
        if p.advantage != "constant":
            raise ValueError(f"preset {p.name!r} needs advantages ({p.advantage})")
        adv: Tensor = logp.new_ones(())
    else:
        adv = advantages
    adv, extra = _weighted_advantages(p, adv, logp, mask, entropy, sft_loss_type)
    lo = eps_low if eps_low is not None else (p.eps_low if p.eps_low is not None else 0.2)
    hi = eps_high if eps_high is not None else p.eps_high
    loss, metrics = policy_loss(
        logp, old_logp, adv, mask,
        denominator=p.denominator, shaping=p.shaping, shaping_gamma=shaping_gamma,
        clip=p.clip, eps_low=lo, eps_high=hi, dual_clip_c=dual_clip_c,
    )
    metrics.update(extra)
    return loss, metrics
