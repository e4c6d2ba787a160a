"""HPT: Hybrid Post-Training with a per-question performance gate (HPT §3.4, Alg. 1, §5.4;
official code TsinghuaC3I/Unify-Post-Training, exp_scripts/train.sh and hpt/verl/verl/mix_src).

For every prompt q of the step, n rollouts are sampled and verified; P = (# correct) / n.
Feedback functions give the RL weight α = f(P) and the SFT weight β = g(P) (eq. 9), and the
prompt contributes ``α · L_RL(rollouts) + β · L_SFT(τ*)`` (eq. 13). The default pair is the
hard switch of eq. 10 with γ counted in rollouts, as in the official code
(``on_solve_num <= switch_gate``): at most γ correct -> SFT on the demonstration and the
rollouts are dropped; otherwise Dr. GRPO on the rollouts (eq. 11, A_i = R_i − mean: the
paper's text under eq. 11 divides by the std, but eq. 11 is named Dr. GRPO and the official
runs set ``grpo_use_std=False``; we follow the code).

Gates (``hpt_alpha_fn``):

- ``switch`` (eq. 10), with the official three-way extension ``hpt_gamma_off``
  (``switch_gate_off``): count ≤ γ -> SFT on τ*; γ < count ≤ γ_off -> off-policy RL on τ*
  (LUFFY's shaped term, A = 1), rollouts dropped; count > γ_off -> on-policy RL. The official
  scripts set γ = γ_off = 0 (no middle band); None = γ.
- ``linear``: α = P, β = 1 − P.
- ``soft0`` / ``soft1`` / ``soft2``: the official ``unify_strategy="soft"`` coefficient tables
  (``soft_type`` 0/1/2): every prompt gets its demonstration in the group (n − 1 rollouts +
  τ*, advantages over rollouts ∪ τ*) and per-prompt weights (on, off, sft) for the rollouts'
  RL, the off-policy RL on τ* and the SFT on τ*, looked up by the official count
  (# correct rollouts + 1 for τ*, 1..8 for n = 8). The released trainer computes these
  coefficients but its actor never reads them, so the official soft runs trained all three
  terms at weight 1; we apply them as their names say.

Balance (``hpt_balance``):

- ``question`` (default; eq. 13 is a per-question mixture): one question, one vote. With P
  questions in the step,

      L = (1/P) Σ_q [ α_q · L_RL(q) + β_q · L_SFT(q) ]
      L_RL(q)  = (1/n_q) Σ_{i ∈ q} Σ_t ℓ_it / max_len     (Dr. GRPO over q's n_q rollouts, eq. 11)
      L_SFT(q) = Σ_t ℓ*_t / max_len                       (q's demonstration, the same normaliser)

  so a question weighs the same whichever branch the gate picks: at 1 of 8 gated the RL : SFT
  weight is 7 : 1, at 4 of 8 it is 1 : 1 (tests/methods/test_hpt.py). Both terms use eq. 11's
  Σ tokens / max_len, so a token of a demonstration and a token of a rollout weigh alike
  (a token mean for SFT would give a gated question weight 1 against ≈ mean length / max_len
  for an RL question). Written per sequence — each rollout of q carries α_q / n_q, each
  demonstration β_q, and each sequence of q adds 1 / (q's number of sequences) to the count
  divided by (``LossTerm.seq_counts``) — so the update is the same for any split into
  micro-batches, mini-batches or processes. The OFF/ON and Mix/ON off-policy term on τ* is q's
  RL group (τ* alone, or under the soft tables rollouts ∪ τ*) and is weighed like its rollouts.
- ``term_mean`` (the default before this change; ``paper`` in older config files is read as
  this): RL is Dr. GRPO over all kept rollouts (Σ tokens / max_len / number of rollouts,
  shared with the off-policy demonstration term), SFT one token mean over the gated prompts'
  demonstrations. Each term is normalised by its own count, so the SFT part weighs 1 in total
  whatever share of questions is gated: RL : SFT = 0.39 : 1 at 1 of 8 gated and at 4 of 8
  (L = 100, max_len = 256) — not the paper's per-question mixture.
- ``official``: the per-sample weights of the official code: every rollout (and off-policy
  demonstration) token weighs 1/max_len with no division by the number of sequences
  (``loss_remove_token_mean=True``), unclipped (``loss_remove_clip=True``); every
  demonstration weighs ``hpt_sft_coef`` through its own token mean (``compute_sft_pure_loss``
  on a micro-batch holding it). In the official code the SFT term is a token mean *per
  micro-batch*, so the weight a demonstration gets depends on how many others share its
  micro-batch (dynamic batching by tokens); we fix it to the case of one demonstration per
  micro-batch, the common one in their 8-GPU runs (few gated prompts per GPU). The official
  gradient is also averaged over its 8 data-parallel ranks: a common factor of every weight,
  which only matters through gradient clipping. ``max_len`` keeps its official meaning, the
  generation budget (official ``max_response_length`` 8192; ours ``max_new_tokens``), so with
  the 256 of recipes/hpt.yaml an RL token weighs 1/256 against a demonstration's 1/|τ*|: RL is
  32× heavier per token relative to SFT than in the official 8192-token runs (RL : SFT =
  21.9 : 1 at 1 of 8 gated, 3.1 : 1 at 4 of 8, L = 100).

``hpt_sft_coef`` (official ``sft_loss_coef``: 1.0; 0.3 for Qwen2.5-Math-1.5B) multiplies the SFT
term under either balance.

Departures from the paper / official code, and why:

- A gated prompt without a demonstration cannot be trained by SFT: it stays on RL
  (α = 1, β = 0). With the hard switch and γ = 0 its rollouts all failed, so its Dr. GRPO
  advantages are 0 and it contributes nothing, as if it were dropped.
- OFF/ON, Mix/ON and the middle band: in the official code a gated prompt's group is its
  demonstration alone (its rollouts are removed) with reward 1, and verl's GRPO gives a
  one-sample group mean 0 and std 1, so its advantage is R(τ*) = 1; we pass A = 1 directly
  (our GRPO gives one-sample groups A = 0, ``core.advantages.grpo_advantages``).
- Removal of SFT-ed questions (``hpt_remove_sft_solved``, the official ``remove_sfted_data``):
  :meth:`HPTController.excluded_ids` returns the ids of rows trained by SFT alone (an SFT
  weight and neither on- nor off-policy RL); the prompt sampler skips them from then on.
- The official optimizer step is skipped when the gradient norm exceeds 80 (on top of
  clipping at 1.0); we only clip (recipes/hpt.yaml).
- ``sft_fraction`` is the paper's sample-level share (Fig. 6/8, official ``uni/sft_data_ratio``):
  demonstrations trained by SFT ÷ (all demonstration samples + kept rollouts); the share of
  prompts gated to SFT is ``sft_prompt_share`` (Σ β / P).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from hybridrl.core.advantages import dr_grpo_advantages
from hybridrl.methods.base import ConstantWeights, Controller, LossTerm, Needs, StepContext, StepData, Update
from hybridrl.methods.spec import MethodSpec
from hybridrl.methods.luffy import luffy_advantages


@dataclass
class HPTOptions:
    """Options of HPT (Towards a Unified View of LLM Post-Training, §3.4, Alg. 1, §5.4).

    Config section ``hpt`` (its own part of config.yaml); each field is a ``key=value`` of
    ``hybridrl train`` under the same name."""

    section: ClassVar[str] = "hpt"

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

SOFT_TABLES: dict[str, dict[int, tuple[float, float, float]]] = {
    # official mix_trainer.py, unify_strategy "soft": count -> (on_coef, off_coef, sft_coef);
    # count = correct rollouts + 1 (the demonstration), so 0 "should not occur" (their comment)
    "soft0": {0: (1., 1., 1.), 1: (0., 0., 1.), 2: (0.125, 0.5, 0.5), 3: (0.25, 1., 0.25),
              4: (0.5, 0.5, 0.125), 5: (1., 0.25, 0.), 6: (1., 0.125, 0.), 7: (1., 0., 0.), 8: (1., 0., 0.)},
    "soft1": {0: (1., 1., 1.), 1: (0., 1., 1.), 2: (0.125, 1., 0.5), 3: (0.25, 1., 0.25),
              4: (0.5, 1., 0.125), 5: (1., 1., 0.), 6: (1., 1., 0.), 7: (1., 1., 0.), 8: (1., 1., 0.)},
    "soft2": {0: (1., 1., 1.), 1: (0., 0., 1.), 2: (0.125, 0., 0.5), 3: (0.25, 0., 0.25),
              4: (0.5, 0., 0.125), 5: (1., 0., 0.), 6: (1., 0., 0.), 7: (1., 0., 0.), 8: (1., 0., 0.)},
}
ALPHA_FNS = ("switch", "linear", *SOFT_TABLES)
VARIANTS = ("sft", "off", "mix")
BALANCES = ("question", "term_mean", "official")
BALANCE_ALIASES = {"paper": "term_mean"}
"""Older config files: ``paper`` was the name of today's ``term_mean`` (the default until the
one-question-one-vote fix); a resumed or reused run keeps the balance it was trained with."""
NORM_GROUPS = {"question": "question", "term_mean": "rl", "official": None}
"""term_mean: rollout and off-policy demonstration terms share one Σ/max_len normaliser;
question: all three terms share the count of questions; official: sum modes, no count."""
PRESETS = {  # term -> preset, by balance
    "question": {"pg": "dr_grpo", "sft": "sft_sum_norm", "off": "luffy_off_policy"},
    "term_mean": {"pg": "dr_grpo", "sft": "sft", "off": "luffy_off_policy"},
    "official": {"pg": "hpt_rl_official", "sft": "hpt_sft_official", "off": "hpt_off_official"},
}


def resolve_balance(name: str) -> str:
    """The balance a config value names (``paper`` -> ``term_mean``)."""
    return BALANCE_ALIASES.get(name, name)


def feedback_coefficients(
    num_correct: torch.Tensor, num_samples: torch.Tensor, gamma: int, fn: str = "switch"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-prompt RL weight α = f(P) and SFT weight β = g(P) (HPT eq. 9-10).

    ``switch`` (eq. 10, γ counted in rollouts as the official code):
        α = 1[num_correct > γ],  β = 1 − α
    ``linear``: α = P,  β = 1 − P  with P = num_correct / num_samples (eq. 8).

    Args:
        num_correct: (P,) float, correct rollouts per prompt.
        num_samples: (P,) float, rollouts per prompt (n).
    Returns:
        (alpha, beta), each (P,) float.
    """
    if fn == "switch":
        alpha = (num_correct > gamma).float()
    elif fn == "linear":
        alpha = num_correct.float() / num_samples.float().clamp(min=1)
    else:
        raise ValueError(f"hpt_alpha_fn: unknown feedback function '{fn}'; choose one of switch, linear")
    return alpha, 1.0 - alpha


def soft_coefficients(num_correct: torch.Tensor, table: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(on, off, sft) weights per prompt from an official soft table; key = correct rollouts + 1.

    Args:
        num_correct: (P,) correct rollouts per prompt (of n − 1 = 7).
    Returns:
        three (P,) float tensors.
    """
    rows = [SOFT_TABLES[table][min(8, int(c) + 1)] for c in num_correct.tolist()]
    on, off, sft = (torch.tensor([r[i] for r in rows], dtype=torch.float32) for i in range(3))
    return on, off, sft


def row_key(row, i: int) -> str:
    """The row's id, or its position in the step batch when it has none."""
    return row.id if row.id is not None else f"#{i}"


class HPTController(Controller):
    """Per-question gate between SFT (or off-policy RL) on τ* and Dr. GRPO on the rollouts."""

    def __init__(self, config: Any):
        super().__init__(config)
        self.gamma = int(config.hpt_gamma)
        self.gamma_off = self.gamma if config.hpt_gamma_off is None else int(config.hpt_gamma_off)
        self.alpha_fn = config.hpt_alpha_fn
        self.variant = config.hpt_variant
        self.mix_sft_coef = float(config.hpt_mix_sft_coef)
        self.sft_coef = float(config.hpt_sft_coef)
        self.balance = resolve_balance(config.hpt_balance)
        self.remove_sft_solved = bool(config.hpt_remove_sft_solved)
        self.group_size = int(config.group_size)
        if self.alpha_fn not in ALPHA_FNS:
            raise ValueError(f"hpt_alpha_fn: unknown '{self.alpha_fn}'; choose one of {', '.join(ALPHA_FNS)}")
        if self.variant not in VARIANTS:
            raise ValueError(f"hpt_variant: unknown '{self.variant}'; choose one of {', '.join(VARIANTS)}")
        if self.balance not in BALANCES:
            raise ValueError(f"hpt_balance: unknown '{self.balance}'; choose one of {', '.join(BALANCES)}")
        if self.gamma_off < self.gamma:
            raise ValueError(f"hpt_gamma_off ({self.gamma_off}) must be >= hpt_gamma ({self.gamma})")
        if self.sft_coef < 0:
            raise ValueError(f"hpt_sft_coef must be >= 0 (got {self.sft_coef})")
        if self.alpha_fn in SOFT_TABLES and int(config.group_size) != 8:
            raise ValueError(f"hpt_alpha_fn={self.alpha_fn}: the official tables are for n = 8 samples "
                             f"(7 rollouts + the demonstration); got group_size={config.group_size}")
        self._excluded: set[str] = set()

    def needs(self, ctx: StepContext) -> Needs:
        if self.alpha_fn in SOFT_TABLES:  # the demonstration takes one of the n places
            return Needs(rollouts=True, rollouts_per_prompt=self.group_size - 1)
        return Needs(rollouts=True)

    def _weights(self, count: torch.Tensor, n: torch.Tensor, has_demo: torch.Tensor):
        """Per-prompt (on, off, sft) weights (each (P,)) of the gate."""
        if self.alpha_fn in SOFT_TABLES:
            on, off, sft = soft_coefficients(count, self.alpha_fn)
        else:
            alpha, beta = feedback_coefficients(count, n, self.gamma, self.alpha_fn)
            band = ((count > self.gamma) & (count <= self.gamma_off)).float() if self.alpha_fn == "switch" \
                else torch.zeros_like(alpha)
            on = alpha * (1 - band)  # the middle band trains τ* off-policy instead of the rollouts
            use_sft, use_off = self.variant in ("sft", "mix"), self.variant in ("off", "mix")
            sft = beta * float(use_sft)
            off = beta * float(use_off) + band
        # no demonstration: RL on the rollouts only
        on = torch.where(has_demo, on, torch.ones_like(on))
        zero = torch.zeros_like(on)
        return on, torch.where(has_demo, off, zero), torch.where(has_demo, sft, zero)

    def plan(self, ctx: StepContext, data: StepData) -> list[Update]:
        assert data.rollouts is not None and data.rewards is not None and data.correct is not None
        num_rows = len(data.rows)
        pidx = data.rollouts.prompt_index.long()  # (N,) row of each rollout
        count = torch.zeros(num_rows).index_add_(0, pidx, data.correct.float())  # (P,) correct per prompt
        n = torch.zeros(num_rows).index_add_(0, pidx, torch.ones(len(pidx)))  # (P,) rollouts per prompt
        has_demo = torch.tensor([bool(r.demonstration) for r in data.rows], dtype=torch.bool)
        on, off_w, sft_w = self._weights(count, n, has_demo)
        presets = PRESETS[self.balance]
        group = NORM_GROUPS[self.balance]

        # RL term: Dr. GRPO advantages within each prompt's group (its n rollouts; under the soft
        # tables rollouts ∪ τ*), then keep the rollouts of prompts with an RL weight
        rewards = data.rewards.float()
        demo_rows = torch.nonzero(has_demo).flatten()
        if self.alpha_fn in SOFT_TABLES:
            adv, a_demo = luffy_advantages(rewards, pidx, torch.ones(len(demo_rows)), demo_rows, num_rows)
            off_adv = torch.zeros(num_rows).index_copy_(0, demo_rows, a_demo)  # (P,)
        else:
            adv = dr_grpo_advantages(rewards, pidx)  # (N,) A_i = R_i - mean_q(R)
            off_adv = torch.ones(num_rows)  # the demonstration's one-sample group: A = R(τ*) = 1
        keep = torch.nonzero(on[pidx] > 0).flatten()
        sft_rows = torch.nonzero(sft_w > 0).flatten()
        off_rows = torch.nonzero(off_w > 0).flatten()
        pg_w, sft_w_k, off_w_k = on[pidx[keep]], sft_w[sft_rows], off_w[off_rows]
        counts: dict[str, torch.Tensor | None] = {"pg": None, "sft": None, "off": None}
        if self.balance == "question":
            pg_w, off_w_k, counts = self._question_weights(pidx, keep, sft_rows, off_rows, on, off_w, num_rows)
        pg = LossTerm("pg", presets["pg"], "rollout", keep, advantages=adv[keep], seq_weights=pg_w,
                      norm_group=group, seq_counts=counts["pg"])
        sft = LossTerm("sft", presets["sft"], "demo", sft_rows, seq_weights=sft_w_k,
                       norm_group=group if self.balance == "question" else None, seq_counts=counts["sft"])
        off = LossTerm("off", presets["off"], "demo", off_rows, advantages=off_adv[off_rows],
                       seq_weights=off_w_k, norm_group=group, seq_counts=counts["off"])
        terms = [pg] + ([sft] if self.alpha_fn in SOFT_TABLES or self.variant != "off" else []) \
            + ([off] if self.alpha_fn in SOFT_TABLES or self.variant != "sft" or self.gamma_off > self.gamma else [])

        sft_only = (sft_w > 0) & (on == 0) & (off_w == 0)
        if self.remove_sft_solved:
            for i in torch.nonzero(sft_only).flatten().tolist():
                if data.rows[i].id is not None:
                    self._excluded.add(data.rows[i].id)
        samples = len(keep) + len(sft_rows) + len(off_rows)
        self._metrics = {
            "sft_fraction": len(sft_rows) / samples if samples else 0.0,
            "off_fraction": len(off_rows) / samples if samples else 0.0,
            "sft_prompt_share": float(sft_w.mean()) if num_rows else 0.0,  # Σ β / P (prompt level)
            "hpt/num_sft": len(sft_rows),
            "hpt/num_off": len(off_rows),
            "hpt/num_rl": int((on > 0).sum()),
            "hpt/num_excluded": len(self._excluded),
        }
        demos = len(sft_rows) + len(off_rows)
        kind = "hybrid" if demos and len(keep) else ("rl" if len(keep) else "sft")
        # Mix/ON (HPT §5.4): 0.1 · SFT + 1.0 · off-policy RL; hpt_sft_coef = official sft_loss_coef
        mix = self.variant == "mix" and self.alpha_fn not in SOFT_TABLES
        sft_weight = self.sft_coef * (self.mix_sft_coef if mix else 1.0)
        return [Update(terms, kind=kind, weighting=ConstantWeights({"sft": sft_weight}))]

    def _question_weights(self, pidx, keep, sft_rows, off_rows, on, off_w, num_rows):
        """Per-sequence weights and counts of the one-question-one-vote balance.

        q's RL group is its kept rollouts plus, when it has an off-policy term, τ* (the whole
        group in OFF/ON and the middle band, one more member under the soft tables); each of
        its members weighs (on or off weight) / (group size), so the group contributes its
        Dr. GRPO mean. The SFT demonstration keeps its weight β_q. Each of q's sequences counts
        1 / (q's number of sequences), so ``num_seqs`` = the number of questions.
        Returns (pg weights, off weights, {term: counts}).
        """
        kept_per_q = torch.zeros(num_rows).index_add_(0, pidx[keep], torch.ones(len(keep)))  # (P,)
        has_off = torch.zeros(num_rows).index_fill_(0, off_rows, 1.0)
        has_sft = torch.zeros(num_rows).index_fill_(0, sft_rows, 1.0)
        group = (kept_per_q + has_off).clamp(min=1)  # (P,) members of q's RL group
        seqs_q = (kept_per_q + has_off + has_sft).clamp(min=1)  # (P,) q's sequences over all terms
        pg_w = on[pidx[keep]] / group[pidx[keep]]
        off_w_k = off_w[off_rows] / group[off_rows]
        counts = {"pg": 1.0 / seqs_q[pidx[keep]], "sft": 1.0 / seqs_q[sft_rows], "off": 1.0 / seqs_q[off_rows]}
        return pg_w, off_w_k, counts

    def excluded_ids(self) -> set[str]:
        return set(self._excluded)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "excluded": sorted(self._excluded)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self._excluded = set(state.get("excluded", []))


SPECS = {
    "hpt": MethodSpec(HPTController, "per-question gate: SFT if <= gamma rollouts correct, else Dr. GRPO",
                      "HPT §3.4 Alg. 1", needs_demos=True, options=(HPTOptions,)),
}
