"""The flat key table, generated from the sections: every config key -> its section, type,
default and doc. ``key=value`` overrides, flat YAML files, ``TrainConfig(key=...)`` and the
TRL / verl aliases all go through it, so a key is spelled the same everywhere whichever
section holds it."""

from __future__ import annotations

import ast
import inspect
import textwrap
import typing
from dataclasses import MISSING, fields
from typing import Any

from hybridrl.config.rollout import DistributedSection, RolloutSection
from hybridrl.config.run import (CheckpointSection, DatasetSection, EvaluationSection, LoggingSection, PolicySection,
                                 RunSection)
from hybridrl.config.training import BatchSection, CriticSection, LossSection, OptimizerSection, RewardSection
from hybridrl.config.values import ConfigError
from hybridrl.methods.registry import OPTION_CLASSES

GENERAL_SECTIONS: dict[str, type] = {cls.section: cls for cls in (
    RunSection, PolicySection, DatasetSection, BatchSection, RolloutSection, RewardSection, LossSection, CriticSection,
    OptimizerSection, DistributedSection, EvaluationSection, LoggingSection, CheckpointSection)}
"""The sections every method reads, in the order of ``config.yaml`` and ``--list-keys``."""
SECTIONS: dict[str, type] = {**GENERAL_SECTIONS, **OPTION_CLASSES}
"""Every section: the general ones, then one per method options dataclass (from the registry)."""

METHOD_DOC = "Training method (``hybridrl train --help`` lists them)."
KEYS: dict[str, str | None] = {"method": None, **{f.name: name for name, cls in SECTIONS.items() for f in fields(cls)}}
"""Config key -> the section that holds it (``method`` stands alone, first)."""
assert len(KEYS) == 1 + sum(len(fields(c)) for c in SECTIONS.values()), "a key is in two sections"
assert not set(KEYS) & set(SECTIONS), "a section is named like a key"


def _types() -> dict[str, Any]:
    out: dict[str, Any] = {"method": str}
    for cls in SECTIONS.values():
        hints = typing.get_type_hints(cls)
        out.update({f.name: hints[f.name] for f in fields(cls)})
    return out


TYPES: dict[str, Any] = _types()
DEFAULTS: dict[str, Any] = {"method": "grpo", **{f.name: f.default for c in SECTIONS.values() for f in fields(c)
                                                 if f.default is not MISSING}}
"""Every key's default (a key whose default is computed, e.g. ``output_dir``, has None)."""


def class_field_docs(cls: type) -> dict[str, str]:
    """Field name -> its docstring (the string right after the field in the class body)."""
    body = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0].body
    names = {f.name for f in fields(cls)}
    docs = {}
    for i, stmt in enumerate(body):
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.target.id in names:
            nxt = body[i + 1] if i + 1 < len(body) else None
            ok = isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str)
            docs[stmt.target.id] = inspect.cleandoc(nxt.value.value) if ok else ""
    return docs


def field_docs() -> dict[str, str]:
    """Every key -> its docstring ('' when a field has none)."""
    out = {"method": METHOD_DOC}
    for cls in SECTIONS.values():
        out.update(class_field_docs(cls))
    return out


ALIASES: dict[str, str] = {
    # TRL (GRPOConfig / TrainingArguments) spellings of the same quantities
    "num_generations": "group_size",
    "learning_rate": "lr",
    "max_completion_length": "max_new_tokens",
    "per_device_train_batch_size": "micro_batch_size",
    "max_steps": "steps",
    "epsilon": "eps_low",
    "epsilon_high": "eps_high",
    "lr_scheduler_type": "lr_scheduler",
    "logging_steps": "log_every",
    "save_steps": "save_every",
    "eval_steps": "eval_every",
    "save_total_limit": "keep_last",
    # verl spellings
    "kl_coef": "beta",
    "kl_loss_coef": "beta",
    "clip_ratio_low": "eps_low",
    "clip_ratio_high": "eps_high",
    "entropy_coeff": "entropy_coef",
    "total_training_steps": "steps",
    "ppo_epochs": "num_iterations",
    "vllm_importance_sampling_cap": "vllm_importance_sampling_clip_max",  # TRL's deprecated name
    "steps_per_generation": "mini_batches",  # TRL: optimizer steps per generated batch
}
"""Spellings from TRL and verl accepted for the same quantity; the run logs and saves the
canonical name (config.yaml never holds an alias). ``beta`` stays the KL coefficient, as in TRL."""

ALIAS_NOTES: dict[str, str] = {
    "per_device_train_batch_size": "sequences per forward/backward pass; the batch itself is prompts_per_step x "
                                   "group_size completions",
}
"""Aliases whose quantity is easy to mistake: said in the note when the alias is read."""

TRL_EXPLAINED: dict[str, str] = {
    "gradient_accumulation_steps": "hybridrl accumulates by itself: the batch is prompts_per_step x group_size "
                                   "completions, micro_batch_size the sequences per forward pass (the loss is exact)",
    "generation_batch_size": "the completions generated per step are prompts_per_step x group_size",
    "num_train_epochs": "hybridrl counts optimizer steps: steps=N (one pass over the data is about "
                        "rows / prompts_per_step steps); num_iterations is something else (updates per batch)",
    "use_vllm": "use rollout_engine=vllm (or auto: vLLM when installed)",
    "vllm_mode": "the vLLM engine runs in this process (colocate); use rollout_engine=vllm",
    "scale_rewards": "the std scaling of advantages is part of the method: grpo scales by the group's std, "
                     "dr_grpo does not (method=dr_grpo, or rl_preset=dr_grpo inside a hybrid)",
    "loss_type": "the loss is chosen by method / rl_preset (grpo, dr_grpo, dapo, gspo, cispo, ...) and its "
                 "reduction by loss_agg_mode (token-mean, seq-mean-token-mean, ...)",
    "warmup_ratio": "use warmup_steps=N (a step count)",
    "reward_funcs": "use reward_fn=module:function (one function; it may return (score, info))",
}
"""TRL ``GRPOConfig`` names with no one-to-one key here: each refused with one line that says
what to use instead."""


def spelled_key(key: str) -> str:
    """``key`` as the user meant it, without checking it: dashes as underscores, a TRL/verl alias
    mapped to our name (``save-steps`` -> ``save_every``)."""
    k = key.strip().replace("-", "_")
    return ALIASES.get(k, k)


def suggest(key: str) -> str:
    import difflib

    close = difflib.get_close_matches(key, list(KEYS) + list(ALIASES), n=3)
    close = list(dict.fromkeys(ALIASES.get(c, c) for c in close))
    return f" (did you mean {', '.join(close)}?)" if close else ""


def canonical_key(key: str, notes: list[str] | None = None, source: str = "") -> str:
    """``key`` with dashes as underscores and TRL/verl aliases mapped to our name; raises
    ConfigError with a suggestion for an unknown key."""
    k = key.strip().replace("-", "_")
    if k in KEYS:
        return k
    where = f"{source}: " if source else ""
    if k in ALIASES and ALIASES[k] in KEYS:
        if notes is not None:
            what = ALIAS_NOTES.get(k, "same quantity")
            notes.append(f"'{k}' read as '{ALIASES[k]}' ({what}; saved under that name)")
        return ALIASES[k]
    if k in TRL_EXPLAINED:
        raise ConfigError(f"{where}config key '{k}' (TRL) has no equivalent here: {TRL_EXPLAINED[k]}")
    raise ConfigError(f"{where}unknown config key '{k}'{suggest(k)}")
