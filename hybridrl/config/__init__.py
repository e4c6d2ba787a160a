"""The training configuration: the method, then typed sections (docs/design.md §5).

``run``, ``policy``, ``dataset``, ``batch``, ``rollout``, ``reward``, ``loss``, ``critic``,
``optimizer``, ``distributed``, ``evaluation``, ``logging``, ``checkpoint`` — each a dataclass
that checks its own values — and one section per method's options dataclass, declared in the
method's module (``hpt``, ``superrl``, ...). Every key is one flat name as well (``lr``,
``hpt_gamma``): the table in :mod:`~hybridrl.config.keys` is generated from the sections, so
``key=value`` overrides, flat YAML recipes, TRL / verl aliases and ``TrainConfig(lr=...)``
read as before. Sources, in order of precedence: ``key=value`` overrides > ``--flag`` CLI
options > YAML file > defaults. Unknown keys and wrong types fail before any model loads,
naming the key.
"""

from hybridrl.config.build import build_config, find_config_file, recipe_folders
from hybridrl.config.checks import (KNOWN_MODELS, check_model_name, check_report_to, check_reward_fn, check_task_name,
                                    check_values, foreign_option_warnings, schedule_warnings, validate)
from hybridrl.config.describe import describe_keys
from hybridrl.config.keys import (ALIAS_NOTES, ALIASES, DEFAULTS, KEYS, SECTIONS, TRL_EXPLAINED, TYPES, canonical_key,
                                  field_docs, spelled_key)
from hybridrl.config.saved import (LEGACY_DEFAULTS, SAFE_RESUME_KEYS, config_defaults, config_to_dict, flatten,
                                   nested_config, reward_fn_name, with_legacy_defaults)
from hybridrl.config.train_config import TrainConfig, default_output_dir
from hybridrl.config.values import ConfigError
from hybridrl.rollout.machine import native_bf16

__all__ = [
    "ALIASES", "ALIAS_NOTES", "DEFAULTS", "KEYS", "KNOWN_MODELS", "LEGACY_DEFAULTS", "SAFE_RESUME_KEYS", "SECTIONS",
    "TRL_EXPLAINED", "TYPES", "ConfigError", "TrainConfig", "build_config", "canonical_key", "check_model_name",
    "check_report_to", "check_reward_fn", "check_task_name", "check_values", "config_defaults", "config_to_dict",
    "default_output_dir", "describe_keys", "field_docs", "find_config_file", "flatten", "foreign_option_warnings",
    "native_bf16", "nested_config", "recipe_folders", "reward_fn_name", "schedule_warnings", "spelled_key", "validate",
    "with_legacy_defaults",
]
