"""HPT: Hybrid Post-Training with a per-question performance gate (HPT §3.4, Alg. 1, §5.4).

For every prompt q of the step, n rollouts are sampled and verified; P = (# correct) / n.
Feedback functions give the RL weight α = f(P) and the SFT weight β = g(P) (eq. 9), and the
prompt contributes ``α · L_RL(rollouts) + β · L_SFT(τ*)`` (eq. 13). The default pair is the
hard switch of eq. 10 with γ counted in rollouts, as in the official code
(``on_solve_num <= switch_gate``): at most γ correct -> SFT on the demonstration and the
rollouts are dropped; otherwise Dr. GRPO on the rollouts (eq. 11, A_i = R_i − mean).

Departures from the paper / official code, and why:

- The SFT/RL ratio of the official code depends on the micro-batch layout; here the SFT
  term is a token mean over the demonstration tokens of the gated prompts of the whole step
  and the RL term is Dr. GRPO over the kept rollouts, each reduced once (DESIGN §4).
- A gated prompt without a demonstration cannot be trained by SFT: it stays on RL
  (α = 1, β = 0). With the hard switch and γ = 0 its rollouts all failed, so its Dr. GRPO
  advantages are 0 and it contributes nothing, as if it were dropped.
- The §5.4 variants replace (``off``) or complement (``mix``) the SFT term by LUFFY's
  off-policy term on the demonstration. In the official code a gated prompt's group is the
  demonstration alone (its rollouts are removed) with reward 1, and verl's GRPO gives a
  one-sample group mean 0 and std 1, so its advantage is R(τ*) = 1; we pass A = 1.
- Removal of SFT-ed questions (``hpt_remove_sft_solved``, the official ``remove_sfted_data``):
  :meth:`HPTController.excluded_ids` returns the ids of rows that were trained by SFT only
  (β > 0 and α = 0); the prompt sampler skips them from then on. Rows without an ``id``
  cannot be excluded.
"""

from __future__ import annotations

from typing import Any

import torch

from hybridrl.core.advantages import dr_grpo_advantages
from hybridrl.methods.base import Controller, LossTerm, Needs, StepContext, StepData, Update

ALPHA_FNS = ("switch", "linear")
VARIANTS = ("sft", "off", "mix")


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
        raise ValueError(f"hpt_alpha_fn: unknown feedback function '{fn}'; choose one of {', '.join(ALPHA_FNS)}")
    return alpha, 1.0 - alpha


def row_key(row, i: int) -> str:
    """The row's id, or its position in the step batch when it has none."""
    return row.id if row.id is not None else f"#{i}"


class HPTController(Controller):
    """Per-question gate between SFT (or off-policy RL) on τ* and Dr. GRPO on the rollouts."""

    def __init__(self, config: Any):
        super().__init__(config)
        self.gamma = int(config.hpt_gamma)
        self.alpha_fn = config.hpt_alpha_fn
        self.variant = config.hpt_variant
        self.mix_sft_coef = float(config.hpt_mix_sft_coef)
        self.remove_sft_solved = bool(config.hpt_remove_sft_solved)
        if self.alpha_fn not in ALPHA_FNS:
            raise ValueError(f"hpt_alpha_fn: unknown '{self.alpha_fn}'; choose one of {', '.join(ALPHA_FNS)}")
        if self.variant not in VARIANTS:
            raise ValueError(f"hpt_variant: unknown '{self.variant}'; choose one of {', '.join(VARIANTS)}")
        self._excluded: set[str] = set()
        self._group_acc: dict[str, float] = {}

    def needs(self, ctx: StepContext) -> Needs:
        return Needs(rollouts=True, demos=True)

    def plan(self, ctx: StepContext, data: StepData) -> list[Update]:
        assert data.rollouts is not None and data.rewards is not None and data.correct is not None
        num_rows = len(data.rows)
        pidx = data.rollouts.prompt_index.long()  # (N,) row of each rollout
        count = torch.zeros(num_rows).index_add_(0, pidx, data.correct.float())  # (P,) correct per prompt
        n = torch.zeros(num_rows).index_add_(0, pidx, torch.ones(len(pidx)))  # (P,) rollouts per prompt
        alpha, beta = feedback_coefficients(count, n, self.gamma, self.alpha_fn)
        has_demo = torch.tensor([bool(r.demonstration) for r in data.rows], dtype=torch.bool)
        alpha = torch.where(has_demo, alpha, torch.ones_like(alpha))  # no τ*: stays on RL
        beta = torch.where(has_demo, beta, torch.zeros_like(beta))

        # RL term: Dr. GRPO advantages within each prompt's full group of n rollouts, then keep
        # the rollouts of prompts with α > 0 (the gated prompts' rollouts are dropped)
        adv = dr_grpo_advantages(data.rewards.float(), pidx)  # (N,) A_i = R_i - mean_q(R)
        keep = torch.nonzero(alpha[pidx] > 0).flatten()
        pg = LossTerm("pg", "dr_grpo", "rollout", keep, advantages=adv[keep], seq_weights=alpha[pidx[keep]])

        # demonstration terms of prompts with β > 0
        rows = torch.nonzero(beta > 0).flatten()
        b = beta[rows]
        sft = LossTerm("sft", "sft", "demo", rows, seq_weights=b)
        off = LossTerm("off", "luffy_off_policy", "demo", rows, advantages=torch.ones(len(rows)), seq_weights=b)
        demo_terms = {"sft": [sft], "off": [off], "mix": [sft, off]}[self.variant]

        if self.remove_sft_solved:
            for i in torch.nonzero((beta > 0) & (alpha == 0)).flatten().tolist():
                if data.rows[i].id is not None:
                    self._excluded.add(data.rows[i].id)
        acc = (count / n.clamp(min=1)).tolist()
        self._group_acc = {row_key(r, i): acc[i] for i, r in enumerate(data.rows)}
        self._metrics = {
            "sft_fraction": float(beta.mean()) if num_rows else 0.0,
            "hpt/num_sft": int((beta > 0).sum()),
            "hpt/num_rl": int((alpha > 0).sum()),
            "hpt/num_excluded": len(self._excluded),
        }
        kind = "hybrid" if len(rows) and len(keep) else ("rl" if len(keep) else "sft")
        return [Update([pg, *demo_terms], kind=kind)]

    def loss_weights(self) -> dict[str, torch.Tensor | float]:
        # Mix/ON (HPT §5.4): 0.1 · SFT + 1.0 · off-policy RL
        return {"sft": self.mix_sft_coef} if self.variant == "mix" else {}

    def excluded_ids(self) -> set[str]:
        return set(self._excluded)

    def last_group_accuracy(self) -> dict[str, float]:
        """Accuracy (# correct / n) of each prompt of the last step, keyed by row id
        (``#i`` = position in the step batch for rows without one), for training heatmaps."""
        return dict(self._group_acc)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "excluded": sorted(self._excluded), "group_acc": dict(self._group_acc)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self._excluded = set(state.get("excluded", []))
        self._group_acc = dict(state.get("group_acc", {}))
