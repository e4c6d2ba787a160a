"""Method-specific options: one flat dataclass, a docstring per field, paper defaults.

:class:`hybridrl.train.config.TrainConfig` extends :class:`MethodOptions`, so every field
here is a ``key=value`` override of ``hybridrl train`` and is saved in ``config.yaml``.
Fields are prefixed by the method that reads them (``hpt_``, ``superrl_``, ``sasr_``,
``ssr_cosine_``, ``static_hybrid_``, ``luffy_``, ``auto_``); general knobs the hybrids share
(``group_size``, ``prompts_per_step``, ``seed``, ``steps``, ``rl_preset``) live in TrainConfig.

Where a paper states no value, the field says so and why the default was chosen.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class MethodOptions:
    # --- HPT (Towards a Unified View of LLM Post-Training, §3.4, Alg. 1, §5.4) ----------
    hpt_gamma: int = 0
    """Switch gate γ, counted in rollouts: a prompt is trained by SFT when at most γ of its
    n rollouts are correct (official code ``on_solve_num <= switch_gate``). HPT §4: γ=0 for
    the Qwen models, γ=2 for LLaMA; §5.5 ablates 0/1/2 (γ=0 best)."""
    hpt_alpha_fn: str = "switch"
    """Feedback functions α=f(P) (RL weight), β=g(P) (SFT weight) of HPT eq. 9.
    ``switch``: eq. 10, α = 1[count > γ], β = 1 − α (the paper's choice).
    ``linear``: α = P, β = 1 − P (a soft pair: f increasing and g decreasing in P, as §3.4
    asks; every prompt then contributes both terms, weighted per sequence)."""
    hpt_variant: str = "sft"
    """What a gated prompt trains on (HPT §5.4, Table 5). ``sft``: SFT on the demonstration
    (SFT/ON, HPT proper); ``off``: LUFFY-style off-policy RL on the demonstration (OFF/ON);
    ``mix``: ``hpt_mix_sft_coef``·SFT + 1.0·off-policy RL (Mix/ON)."""
    hpt_mix_sft_coef: float = 0.1
    """Mix/ON: weight of the SFT term next to the off-policy term (weight 1.0); HPT §5.4 found
    the SFT/OFF ratio 1/10 best."""
    hpt_remove_sft_solved: bool = False
    """Remove questions once they were trained by SFT from later sampling (the official code's
    ``remove_sfted_data``; off in the paper's main runs). Rows need an ``id``."""

    # --- SuperRL (§3.2-3.3, App. C.8, D.6) -------------------------------------------------
    superrl_k: int | None = None
    """Adaptive Switch probe length: pure-RL steps before deciding. None = by batch size
    (SuperRL §3.3/§4.5): prompts_per_step > 32 -> 10, otherwise 50."""
    superrl_m: int | None = None
    """Window of the recent average reward (last m probe steps). None = 10 (both regimes)."""
    superrl_increase_threshold: int | None = None
    """Sparse needs increase_num < this. None = by batch size: > 32 -> 3, otherwise 20."""
    superrl_avg_threshold: float | None = None
    """Sparse needs recent_avg < this. None = by batch size: > 32 -> 0.1, otherwise 0.2."""
    superrl_variant: str = "logsigma"
    """Hybrid Actor loss (SuperRL D.6). ``logsigma``: L = e^{-2 s_pg} L_pg + e^{-2 s_sft} L_sft
    + s_pg + s_sft (§3.2, the paper's method); ``theta``: w_pg = sigmoid(α), w_sft = 1 − w_pg;
    ``per_step``: an RL update, then a separate update on e^{-2 s_sft} L_sft + s_sft."""
    superrl_init_s_pg: float = 0.0
    """Initial s_pg = log σ_pg (SuperRL App. C.8: (0, 0) works best)."""
    superrl_init_s_sft: float = 0.0
    """Initial s_sft = log σ_sft."""
    superrl_init_alpha: float = 0.0
    """``theta`` variant: initial α (0 -> equal weights 0.5/0.5; D.6 states no value)."""

    # --- SASR and its baselines (SASR Alg. 1, eq. 12-13, §4) -------------------------------
    sasr_warmup_steps: int = 10
    """W: SFT steps before adaptive switching (Alg. 1). The paper states no value; 10 is 10%
    of the default 100-step run."""
    sasr_gamma: float = 1.0
    """γ in p = G_last / (G_last + γ·G_warmup) (eq. 12, Alg. 1 line 9). Not stated in the
    paper; 1.0 makes p = 0.5 when the SFT gradient norm equals its warm-up value."""
    ssr_cosine_upper: float = 1.0
    """SSR-cosine U: probability of an SFT step at s = 0 (eq. 13). Not stated in the paper."""
    ssr_cosine_lower: float = 0.0
    """SSR-cosine L: probability of an SFT step at s = S (eq. 13). Not stated in the paper."""
    static_hybrid_sft_epochs: int = 2
    """Static hybrid: SFT epochs per cycle (SASR §4, after DeepSeek-R1: 2 epochs SFT ...)."""
    static_hybrid_rl_epochs: int = 1
    """Static hybrid: GRPO epochs per cycle (... then 1 epoch GRPO, repeating)."""

    # --- LUFFY (Yan et al. 2025; HPT baseline) ---------------------------------------------
    luffy_n_off: int = 1
    """Demonstrations per group: of the n = group_size samples per prompt, n_off are copies
    of the demonstration and n − n_off are sampled (LUFFY default 1 of 8)."""
    luffy_adv_on_only: bool = False
    """Group mean over the on-policy samples only (default: over on ∪ off, LUFFY/HPT Table 1)."""

    # --- Auto (the Adaptive Switch, generalised) -------------------------------------------
    auto_sparse_method: str = "hpt"
    """Method ``auto`` hands over to when the probe finds sparse rewards (a method name of
    the registry, e.g. ``hpt``, ``superrl``, ``luffy``, ``sasr``); dense -> ``rl_preset``."""
