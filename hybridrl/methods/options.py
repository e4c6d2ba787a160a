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
    hpt_gamma_off: int | None = None
    """Upper gate of the official three-way switch (``switch_gate_off``): a prompt with
    γ < count ≤ γ_off correct rollouts trains off-policy RL on its demonstration (A = 1, its
    rollouts dropped); above γ_off on-policy RL. None = ``hpt_gamma`` (no middle band, as the
    official scripts: switch_gate = switch_gate_off = 0). Only with ``hpt_alpha_fn=switch``."""
    hpt_alpha_fn: str = "switch"
    """Feedback functions α=f(P) (RL weight), β=g(P) (SFT weight) of HPT eq. 9.
    ``switch``: eq. 10, α = 1[count > γ], β = 1 − α (the paper's choice).
    ``linear``: α = P, β = 1 − P (a soft pair: f increasing and g decreasing in P, as §3.4
    asks; every prompt then contributes both terms, weighted per sequence).
    ``soft0`` / ``soft1`` / ``soft2``: the official code's soft tables (unify_strategy "soft",
    soft_type 0/1/2): 7 rollouts + the demonstration per prompt, (on, off, sft) weights by the
    number of correct rollouts (needs group_size 8; see hybridrl/methods/hpt.py)."""
    hpt_balance: str = "question"
    """SFT-to-RL balance. ``question`` (eq. 13, one question one vote): each of the step's P
    questions weighs 1/P whichever branch the gate picks; its rollouts' Dr. GRPO loss and its
    demonstration's loss both Σ tokens / max_len (RL : SFT = 7 : 1 with 1 of 8 questions
    gated, 1 : 1 with 4 of 8). ``term_mean`` (the default before; ``paper`` in older config
    files): Dr. GRPO over the kept rollouts and one SFT token mean, each normalised by its own
    count (RL : SFT = 0.39 : 1 at 1 or 4 of 8 gated, L = 100, max_len = 256). ``official``:
    the official code's per-sample weights: each rollout token 1/max_len with no division by
    the number of sequences, unclipped; each demonstration hpt_sft_coef through its own token
    mean (21.9 : 1 at 1 of 8, 3.1 : 1 at 4 of 8)."""
    hpt_sft_coef: float = 1.0
    """Multiplies the SFT term (official ``sft_loss_coef``: 1.0; 0.3 for Qwen2.5-Math-1.5B in
    the official scripts)."""
    hpt_variant: str = "sft"
    """What a gated prompt trains on (HPT §5.4, Table 5). ``sft``: SFT on the demonstration
    (SFT/ON, HPT proper); ``off``: LUFFY-style off-policy RL on the demonstration (OFF/ON);
    ``mix``: ``hpt_mix_sft_coef``·SFT + 1.0·off-policy RL (Mix/ON). Not used by the soft tables."""
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
    superrl_s_bound: float = 1.15
    """Guard of the log-sigma weights: after every update s_pg, s_sft are projected onto
    [−b, b], so each weight e^{-2s} stays in [e^{-2b}, e^{2b}] = [0.1, 10] for b = 1.15. Not in
    the paper: its formula assumes losses ≥ 0, but the PG surrogate is ≈ 0 or negative, so
    s_pg would fall without bound (docs/methods.md). ``inf`` = the paper's unguarded loss."""
    loss_weight_lr: float = 0.02
    """AdamW learning rate of learnable loss weights (SuperRL's s_pg, s_sft, θ). The paper uses
    its policy lr (1e-6, App. C.7), which leaves them at their initial values for a whole run
    (measured: σ_pg 1 -> 0.999996 in 4 steps); AdamW moves a scalar ≈ lr per step, so 0.02
    moves s across its range (±1.15) in ≈ 60 steps. They share the optimizer, not the
    policy's gradient clipping."""

    # --- SASR and its baselines (SASR Alg. 1, eq. 12-13, §4) -------------------------------
    sasr_warmup_steps: int = 10
    """W: SFT steps before adaptive switching (Alg. 1). The paper states no value; 10 is 10%
    of the default 100-step run."""
    sasr_gamma: float = 1.0
    """γ in p = G_last / (G_last + γ·G_warmup) (eq. 12, Alg. 1 line 9). Not stated in the
    paper; 1.0 makes p = 0.5 when the SFT gradient norm equals its warm-up value."""
    sasr_sft_loss: str = "sum"
    """SASR's SFT loss. ``sum`` (eq. 2: −E[Σ_t log π], a token sum per demonstration averaged
    over demonstrations); ``mean`` (the token mean over the step's demonstration tokens, the
    behaviour before this option). The G_last / G_warmup ratio cancels the scale, but SFT and
    GRPO steps share AdamW's moments and the gradient clip, so the two differ."""
    ssr_cosine_upper: float = 1.0
    """SSR-cosine U: probability of an SFT step at s = 0 (eq. 13). Not stated in the paper."""
    ssr_cosine_lower: float = 0.0
    """SSR-cosine L: probability of an SFT step at s = S (eq. 13). Not stated in the paper."""
    static_hybrid_unit: str = "epoch"
    """Unit of the static hybrid's phase lengths: ``epoch`` (data epochs, SASR §4),
    ``step`` (optimizer steps) or ``fraction`` (of the run's ``steps``). With 1,000 rows and 8
    prompts per step an epoch is 125 steps, so a 100-step run in epochs is pure SFT: use
    ``step`` or ``fraction`` for short runs."""
    static_hybrid_sft: float = 2.0
    """Length of the SFT phase, in ``static_hybrid_unit`` (SASR §4: 2 epochs of SFT ...)."""
    static_hybrid_rl: float = 1.0
    """Length of the GRPO phase that follows (SASR §4: ... followed by 1 epoch of GRPO)."""
    static_hybrid_repeat: bool = False
    """Start the SFT-then-GRPO cycle over when it ends. SASR §4 describes one cycle (2 epochs
    SFT, then 1 epoch GRPO) and says nothing of repeating; False = GRPO after the first cycle
    for the rest of the run (DeepSeek-R1's order: SFT, then RL)."""

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

    # --- SFT loss of every method's SFT term ------------------------------------------
    sft_loss_type: str = "nll"
    """Token weighting of the SFT terms (presets ``sft``, ``srft_sft``, ``hpt_sft_official``, UFT's
    prefix term): ``nll`` (the plain NLL, every paper here) or ``dft``: each demonstration token's
    NLL weighted by sg(p_t), its own detached probability (Dynamic Fine-Tuning, Wu et al. 2025;
    TRL ``SFTConfig(loss_type="dft")``; Trinity-RFT's ``sft_is``). Reduced as before (the weights
    do not change the normaliser). CHORD's φ term fixes its own weighting (``chord_phi``)."""

    # --- CHORD (Zhang et al. 2025, arXiv 2508.11408; official Trinity-RFT mix_chord) --------------
    chord_mu_warmup_steps: int = 200
    """Steps of the linear warm-up of μ from 0 to ``chord_mu_peak`` (official mix_chord.yaml
    ``mu_warmup_steps: 200``; 0 for the paper's CHORD-μ and CHORD-φ settings)."""
    chord_mu_decay_steps: int = 400
    """Steps of the cosine decay from the peak to ``chord_mu_valley`` after the warm-up
    (mix_chord.yaml 400; 200 for CHORD-μ, 0 = μ stays at the valley for CHORD-φ)."""
    chord_mu_peak: float = 0.5
    """μ at the end of the warm-up (mix_chord.yaml 0.5; CHORD-μ 0.9, CHORD-φ 0.1)."""
    chord_mu_valley: float = 0.02
    """μ after the decay (mix_chord.yaml 0.02; CHORD-μ 0.05, CHORD-φ 0.1)."""
    chord_phi: bool = True
    """Weight each demonstration token by sg(φ(p_t)), φ(p) = p(1 − p) (official
    ``enable_phi_function: true``, CHORD-φ). False: the plain SFT term (φ ≡ 1, CHORD-μ), which
    then follows ``sft_loss_type`` (``dft`` gives Trinity-RFT's ``sft_is`` variant)."""

    # --- ReLIFT (Ma et al. 2025, arXiv 2506.07527; official TheRoadQaQ/ReLIFT) --------------------
    relift_buffer_size: int = 128
    """Demonstrations per SFT step: when the buffer of the demonstrations of prompts none of
    whose rollouts was correct holds this many, one SFT update runs on the newest
    ``relift_buffer_size`` of them (official examples ``sft_data_size=128`` with 128 prompts per
    step; 32 in relift_trainer.yaml)."""
    relift_separate_optimizer: bool = True
    """The SFT update keeps its own AdamW moments, apart from the RL updates' (official: a second
    AdamW, ``actor_sft_optimizer``, same lr and betas). False: one shared optimizer state."""

    # --- UFT (Liu et al. 2025, arXiv 2505.16984; official liumy2010/UFT) --------------------------
    uft_hint_steps: int | None = None
    """T_hint: steps with demonstration-prefix (hint) rollouts; afterwards no prefix. None =
    60% of ``steps`` (official run.py: T_hint 300 of T = 500)."""
    uft_schedule: str = "cosine"
    """How long the prefix is. ``cosine`` (UFT): each of the ``uft_sections`` sections is kept
    with probability p_t = p_low + ½(p_high − p_low)(1 + cos(π t / T_hint)), the prefix is the
    first Binomial(sections, p_t) sections; ``stage``: a deterministic staircase from all
    sections to none (official --algo stage); ``uniform``: a uniformly drawn number of sections
    (official --algo r3, with ``uft_beta=0``)."""
    uft_p_low: float = 0.05
    """p_low of the cosine schedule (official LOWER_PROB 0.05)."""
    uft_p_high: float = 0.95
    """p_high of the cosine schedule (official UPPER_PROB 0.95)."""
    uft_sections: int = 5
    """The demonstration is cut into min(sections, its length) sections of (almost) equal
    length, and a prefix is a whole number of sections (official: 5 sections of the hint's
    solution steps)."""
    uft_beta: float = 0.001
    """β of UFT's log-likelihood term on the prefix tokens: L = L_GRPO + β·NLL(prefix | x)
    (official ``sft_loss_coef`` 0.001)."""
