"""Method name -> controller. The loop only ever sees a Controller built here."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from hybridrl.methods.base import Controller


@dataclass(frozen=True)
class MethodSpec:
    target: str
    """``module:Class`` of the controller (imported lazily)."""
    doc: str
    paper: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    """Constructor keyword arguments (e.g. the RL preset)."""
    overrides: dict[str, Any] = field(default_factory=dict)
    """Config values this method name fixes (e.g. superrl_theta -> superrl_variant=theta)."""
    needs_demos: bool = False
    """Fails before the model loads when the data has no demonstrations."""
    uses_group_baseline: bool = True
    """Needs group_size >= 2."""
    critic: bool = False
    """Train a value head (PPO): the loop computes GAE for presets whose advantage is ``gae``."""


_P = "hybridrl.methods."
METHODS: dict[str, MethodSpec] = {
    "sft": MethodSpec(_P + "plain:SFTController", "token-mean NLL on demonstrations", "HPT eq. 12",
                      needs_demos=True, uses_group_baseline=False),
    "grpo": MethodSpec(_P + "plain:RLController", "group-normalised advantages, PPO clip", "DeepSeekMath; HPT Table 1",
                       kwargs={"preset": "grpo"}),
    "dr_grpo": MethodSpec(_P + "plain:RLController", "GRPO without std / length bias", "Dr. GRPO (Liu et al. 2025)",
                          kwargs={"preset": "dr_grpo"}),
    "ppo": MethodSpec(_P + "plain:RLController", "critic + GAE + clipped value loss", "Schulman et al. 2017",
                      kwargs={"preset": "ppo"}, uses_group_baseline=False, critic=True),
    "reinforce": MethodSpec(_P + "plain:RLController", "±1 advantages, plain policy gradient", "HPT Table 1",
                            kwargs={"preset": "reinforce"}, uses_group_baseline=False),
    "rloo": MethodSpec(_P + "plain:RLController", "leave-one-out baseline", "Ahmadian et al. 2024",
                       kwargs={"preset": "rloo"}),
    "sft_then_rl": MethodSpec(_P + "plain:SFTThenRLController", "SFT phase, then RL from the SFT model",
                              "HPT / SuperRL baseline", needs_demos=True),
    "hpt": MethodSpec(_P + "hpt:HPTController", "per-question gate: SFT if <= gamma rollouts correct, else Dr. GRPO",
                      "HPT §3.4 Alg. 1", needs_demos=True),
    "superrl": MethodSpec(_P + "superrl:SuperRLController", "Adaptive Switch, then log-sigma Hybrid Actor if sparse",
                          "SuperRL §3.2-3.3", overrides={"superrl_variant": "logsigma"}, needs_demos=True),
    "superrl_theta": MethodSpec(_P + "superrl:SuperRLController", "Hybrid Actor with w_pg = sigmoid(alpha)",
                                "SuperRL D.6", overrides={"superrl_variant": "theta"}, needs_demos=True),
    "superrl_per_step": MethodSpec(_P + "superrl:SuperRLController", "RL update then separate weighted SFT update",
                                   "SuperRL D.6", overrides={"superrl_variant": "per_step"}, needs_demos=True),
    "sasr": MethodSpec(_P + "sasr:SASRController", "SFT warm-up, then grad-norm adaptive SFT/GRPO switching",
                       "SASR Alg. 1", needs_demos=True),
    "ssr": MethodSpec(_P + "sasr:SSRController", "alternate SFT and GRPO steps", "SASR baseline", needs_demos=True),
    "ssr_cosine": MethodSpec(_P + "sasr:SSRCosineController", "cosine-scheduled probability of an SFT step",
                             "SASR baseline", needs_demos=True),
    "static_hybrid": MethodSpec(_P + "sasr:StaticHybridController", "2 epochs SFT then 1 epoch GRPO, repeating",
                                "SASR baseline", needs_demos=True),
    "luffy": MethodSpec(_P + "luffy:LUFFYController", "demonstrations replace n_off rollouts; shaped off-policy term",
                        "LUFFY (HPT baseline)", needs_demos=True),
    "srft": MethodSpec(_P + "srft:SRFTController", "entropy-weighted SFT + RL terms", "SRFT (HPT baseline)",
                       needs_demos=True),
    "auto": MethodSpec(_P + "auto:AutoController", "probe reward density, then pure RL (dense) or a hybrid (sparse)",
                       "SuperRL Adaptive Switch, generalised", needs_demos=True),
}
# --- CHORD, ReLIFT, UFT ---
METHODS.update({
    "chord": MethodSpec(_P + "chord:CHORDController",
                        "(1 − μ_t)·GRPO + μ_t·φ-weighted SFT, μ warm-up then cosine decay",
                        "CHORD (Zhang et al. 2025)", needs_demos=True),
    "relift": MethodSpec(_P + "relift:ReLIFTController",
                         "RL every step; SFT on a full buffer of unsolved prompts' demos",
                         "ReLIFT (Ma et al. 2025)", needs_demos=True),
    "uft": MethodSpec(_P + "uft:UFTController", "GRPO from demonstration-prefix rollouts (prefix shrinks to 0) "
                      "+ β·NLL(prefix)", "UFT (Liu et al. 2025)", needs_demos=True),
})


_SUPERRL = ("superrl", "superrl_theta", "superrl_per_step")
OPTION_OWNERS: dict[str, tuple[str, ...]] = {
    "hpt_": ("hpt",),
    "superrl_": (*_SUPERRL, "auto"),  # auto runs SuperRL's Adaptive Switch probe
    "loss_weight_lr": _SUPERRL,
    "sasr_": ("sasr",),
    "ssr_cosine_": ("ssr_cosine",),
    "static_hybrid_": ("static_hybrid",),
    "luffy_": ("luffy",),
    "auto_": ("auto",),
    "sft_then_rl_": ("sft_then_rl",),
    "chord_": ("chord",),
    "relift_": ("relift",),
    "uft_": ("uft",),
}
"""Method options by key prefix (or whole key) -> the methods that read them."""
CRITIC_KEYS = frozenset({"gae_gamma", "gae_lambda", "cliprange_value", "vf_coef", "critic_lr", "critic_detach"})
"""Read only when a critic is trained (``ppo``, or ``rl_preset=ppo``)."""


def unused_keys(config: dict[str, Any]) -> set[str]:
    """Keys of ``config`` (a resolved config as a dict) that the run's method never reads:
    another method's options, and PPO's critic settings without a critic. Two runs that differ
    only in these keys train the same updates (``compare`` reuses a finished run across them)."""
    method = config.get("method")
    readers = {method}
    if method == "auto":
        readers.add(config.get("auto_sparse_method"))
    critic = method == "ppo" or config.get("rl_preset") == "ppo"
    out = set()
    for key in config:
        owners = next((o for p, o in OPTION_OWNERS.items() if key.startswith(p)), None)
        if owners is not None and not readers & set(owners):
            out.add(key)
        elif key in CRITIC_KEYS and not critic:
            out.add(key)
    return out


def method_spec(name: str) -> MethodSpec:
    if name not in METHODS:
        raise KeyError(f"unknown method '{name}'; choose one of {', '.join(METHODS)}")
    return METHODS[name]


def build_controller(config: Any) -> Controller:
    spec = method_spec(config.method)
    module, cls = spec.target.split(":")
    return getattr(importlib.import_module(module), cls)(config, **spec.kwargs)
