"""Pure-tensor Unified Policy Gradient Estimator (HPT §3): advantages, per-token
policy loss, regularisers, one aggregation, and algorithm presets.

Imports only torch.
"""

from hybridrl.core.advantages import (
    ADVANTAGES,
    dr_grpo_advantages,
    gae_advantages,
    grpo_advantages,
    reinforce_advantages,
    rloo_advantages,
    srft_weights,
)
from hybridrl.core.aggregation import AGG_MODES, agg_loss
from hybridrl.core.policy_loss import CLIPS, DENOMINATORS, SHAPINGS, policy_loss
from hybridrl.core.presets import PRESETS, Preset, get_preset, term_loss
from hybridrl.core.regularizers import KL_KINDS, entropy_from_logits, kl_penalty, value_loss

__all__ = [
    "ADVANTAGES", "AGG_MODES", "CLIPS", "DENOMINATORS", "KL_KINDS", "PRESETS", "SHAPINGS",
    "Preset", "agg_loss", "dr_grpo_advantages", "entropy_from_logits", "gae_advantages",
    "get_preset", "grpo_advantages", "kl_penalty", "policy_loss", "reinforce_advantages",
    "rloo_advantages", "srft_weights", "term_loss", "value_loss",
]
