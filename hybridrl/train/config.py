"""The training configuration: one flat dataclass, a docstring per field, paper defaults.

Sources, in order of precedence: ``key=value`` overrides > ``--flag`` CLI options > YAML file
> defaults here. Unknown keys and wrong types fail before any model loads, naming the key.
Method-specific options (``hpt_*``, ``superrl_*``, ``sasr_*`` ...) live in
:class:`hybridrl.methods.options.MethodOptions`, which this class extends, so the config
stays flat and has one source of truth per value.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from hybridrl.methods.options import MethodOptions


class ConfigError(ValueError):
    """A bad configuration value, named by key."""


@dataclass
class TrainConfig(MethodOptions):
    # --- what to train -----------------------------------------------------------------
    method: str = "grpo"
    """Training method (``hybridrl train --help`` lists them)."""
    model: str = "tiny"
    """``tiny`` (random, built in code), ``smollm2-135m`` (packaged), a local HF folder or hub id."""
    task: str | None = None
    """Built-in task (``hybridrl data --help``); rows are generated with ``train_size``/``seed``."""
    data: str | None = None
    """Training data file (.jsonl / .parquet / HF datasets folder); overrides ``task``."""
    difficulty: str | None = None
    """Difficulty of the built-in task (task-specific levels)."""
    train_size: int = 1000
    """Rows generated for a built-in task's train split."""
    eval_data: str | None = None
    """Held-out evaluation file; default: the built-in task's test split."""
    eval_size: int = 64
    """Rows in the held-out split of a built-in task."""
    template: str = "chat"
    """Prompt template: ``vanilla``, ``chat`` or ``r1`` (DESIGN §3)."""
    output_dir: str = "runs/latest"
    """Run directory: config.yaml, metrics.jsonl, eval.jsonl, checkpoints, summary."""
    seed: int = 0

    # --- budget and batch --------------------------------------------------------------
    steps: int = 100
    """Optimizer steps (an update is one step; SuperRL per_step makes two updates a step)."""
    prompts_per_step: int = 8
    """Prompts drawn per step (global, over all processes)."""
    group_size: int = 8
    """Completions sampled per prompt (GRPO's G; HPT's n)."""
    micro_batch_size: int = 8
    """Sequences per forward/backward pass; gradients are accumulated (the loss is exact)."""
    num_iterations: int = 1
    """Updates per generated batch (μ in GRPO); >1 reuses the batch with importance ratios."""
    old_logprobs: str = "current"
    """Denominator of the PPO ratio: ``current`` (the policy before this step's first update,
    recomputed in the first pass, as TRL) or ``sampling`` (the generator's log-probs)."""
    skip_zero_advantage: bool = True
    """Skip the forward/backward of a micro-batch whose advantages are all zero (every group in
    it all-right or all-wrong) when nothing else in its loss has a gradient (no KL, entropy bonus
    or value loss): its gradient is exactly zero, so the update is the same, only cheaper.
    Under sparse rewards most RL micro-batches are such. Their tokens are then missing from the
    logged ``entropy``; ``update/skipped_microbatches`` counts them. Put micro_batch_size = a
    multiple of group_size so a micro-batch holds whole groups."""

    # --- sampling ----------------------------------------------------------------------
    max_new_tokens: int = 256
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    min_new_tokens: int = 0
    """Suppress EOS before this many tokens (benchmarks fix the work per step with it)."""
    sampling_seed: str = "step"
    """``step``: one seeded generate call per step (fastest); ``prompt``: each prompt's
    completions seeded by (seed, step, prompt position), so samples do not depend on how
    prompts are split over processes (one generate call per prompt)."""

    # --- optimisation ------------------------------------------------------------------
    lr: float = 1e-6
    """AdamW learning rate (TRL's GRPO default; HPT used 5e-6 on 7B models)."""
    loss_weight_lr: float | None = None
    """Learning rate of learnable loss weights (SuperRL's s_pg, s_sft, θ); None = ``lr``.
    They share the optimizer but not the gradient clipping of the policy."""
    weight_decay: float = 0.0
    warmup_steps: int = 0
    lr_scheduler: str = "constant"
    """``constant`` or ``cosine`` (after warm-up)."""
    max_grad_norm: float = 1.0
    """Gradient clipping (0 disables). ``grad_norm`` is logged before clipping."""
    max_nonfinite_steps: int = 3
    """Stop after this many consecutive updates with a non-finite loss or gradient."""

    # --- loss --------------------------------------------------------------------------
    rl_preset: str = "grpo"
    """Estimator preset for the RL term of methods that don't fix one (``grpo``, ``dapo`` ...)."""
    loss_agg_mode: str | None = None
    """Override every term's aggregation (``token-mean`` ...); None = each preset's own."""
    eps_low: float | None = None
    """Lower PPO clip range; None = the preset's paper value (GSPO 3e-4, else 0.2)."""
    eps_high: float | None = None
    """Upper clip range (DAPO clip-higher: 0.28); None = the preset's paper value, else ``eps_low``."""
    dual_clip_c: float | None = None
    shaping_gamma: float = 0.1
    """LUFFY policy shaping f(π) = π/(π+γ)."""
    beta: float = 0.0
    """KL-to-reference coefficient (0 = no reference model; SuperRL used 0.001)."""
    kl_estimator: str = "k3"
    entropy_coef: float = 0.0
    """Entropy bonus on rollout tokens (HPT's code: 0.001)."""
    vf_coef: float = 0.1
    """PPO value-loss coefficient."""
    gae_gamma: float = 1.0
    gae_lambda: float = 0.95
    cliprange_value: float = 0.2
    sft_then_rl_sft_steps: int = 20
    """SFT→RL: steps of SFT before the RL phase (the reference becomes the SFT model)."""

    # --- rewards -----------------------------------------------------------------------
    reward_fn: str | None = None
    """User reward ``module:function`` (completion, row) -> float; replaces the verifier."""
    reward_timeout: float = 2.0
    """Seconds per sample; time-outs score 0 and are counted."""

    # --- efficiency --------------------------------------------------------------------
    bf16: bool = False
    """bf16 autocast for generation and training (CPU and GPU)."""
    gradient_checkpointing: bool = False
    lora_r: int = 0
    """LoRA rank (0 = full fine-tuning)."""
    lora_alpha: int = 16

    # --- evaluation, logging, checkpoints ----------------------------------------------
    eval_every: int = 0
    """Greedy accuracy on the held-out split every N steps (0 = only at the end)."""
    eval_max_new_tokens: int | None = None
    """None = ``max_new_tokens``."""
    log_every: int = 1
    """One summary line every N steps (metrics.jsonl always gets every step)."""
    report_to: str = "none"
    """``none``, ``tensorboard``, ``wandb`` or ``trackio`` (comma-separated)."""
    save_every: int = 0
    """Checkpoint every N steps (0 = only at the end)."""
    keep_last: int = 2
    """Checkpoints kept (older ones are deleted after a new one is complete)."""
    progress: bool = True
    """Show a progress bar."""


# ---------------------------------------------------------------------------------------
# parsing


def _field_types() -> dict[str, Any]:
    hints = typing.get_type_hints(TrainConfig)
    return {f.name: hints[f.name] for f in fields(TrainConfig)}


def _coerce(key: str, value: Any, tp: Any) -> Any:
    """Convert ``value`` (from YAML or a ``key=value`` string) to ``tp`` or raise ConfigError."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null", "")):
            if type(None) in args:
                return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(key, value, a)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"config key '{key}': bad value {value!r}")
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ConfigError(f"config key '{key}': expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, bool):
            raise ConfigError(f"config key '{key}': expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise ConfigError(f"config key '{key}': expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(f"config key '{key}': expected a number, got {value!r}")
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"config key '{key}': expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"config key '{key}': expected a string, got {value!r}")
    raise ConfigError(f"config key '{key}': unsupported type {tp}")


def build_config(
    yaml_path: str | Path | None = None,
    cli: dict[str, Any] | None = None,
    overrides: list[str] | None = None,
) -> TrainConfig:
    """Merge YAML < CLI options < ``key=value`` overrides into a validated TrainConfig."""
    import yaml

    types_ = _field_types()
    raw: dict[str, Any] = {}
    if yaml_path is not None:
        path = Path(yaml_path)
        if not path.exists():
            raise ConfigError(f"config file not found: {path}")
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: invalid YAML: {e}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping of key: value")
        for k, v in loaded.items():
            if k not in types_:
                raise ConfigError(f"{path}: unknown config key '{k}'{_suggest(k, types_)}")
            raw[k] = v
    for k, v in (cli or {}).items():
        if v is not None:
            raw[k] = v
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override '{item}' is not of the form key=value")
        k, v = item.split("=", 1)
        k = k.strip().replace("-", "_")
        if k not in types_:
            raise ConfigError(f"unknown config key '{k}'{_suggest(k, types_)}")
        raw[k] = v
    values = {k: _coerce(k, v, types_[k]) for k, v in raw.items()}
    from hybridrl.methods.registry import METHODS

    if values.get("method", TrainConfig.method) in METHODS:
        # a method name such as superrl_theta fixes some options (one source of truth)
        values.update(METHODS[values.get("method", TrainConfig.method)].overrides)
    cfg = TrainConfig(**values)
    validate(cfg)
    return cfg


def _suggest(key: str, known: dict[str, Any]) -> str:
    import difflib

    close = difflib.get_close_matches(key, list(known), n=3)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def validate(cfg: TrainConfig) -> None:
    """Checks that need no model: values in range and combinations that make sense."""
    from hybridrl.core.aggregation import AGG_MODES
    from hybridrl.core.presets import PRESETS
    from hybridrl.methods.registry import METHODS, method_spec

    if cfg.method not in METHODS:
        raise ConfigError(f"config key 'method': unknown method '{cfg.method}'; choose one of {', '.join(METHODS)}")
    spec = method_spec(cfg.method)
    if cfg.task is None and cfg.data is None:
        raise ConfigError("config key 'task' or 'data': one of them is required")
    for key in ("steps", "prompts_per_step", "group_size", "micro_batch_size", "num_iterations", "max_new_tokens"):
        if getattr(cfg, key) < 1:
            raise ConfigError(f"config key '{key}': must be >= 1, got {getattr(cfg, key)}")
    if spec.uses_group_baseline and cfg.group_size < 2:
        raise ConfigError(
            f"config key 'group_size': method '{cfg.method}' normalises rewards within a group, "
            f"which needs group_size >= 2 (got {cfg.group_size})"
        )
    if cfg.rl_preset not in PRESETS:
        raise ConfigError(f"config key 'rl_preset': unknown preset '{cfg.rl_preset}'; choose one of {', '.join(PRESETS)}")
    if cfg.loss_agg_mode is not None and cfg.loss_agg_mode not in AGG_MODES:
        raise ConfigError(f"config key 'loss_agg_mode': unknown mode '{cfg.loss_agg_mode}'; choose one of {', '.join(AGG_MODES)}")
    if cfg.template not in ("vanilla", "chat", "r1"):
        raise ConfigError(f"config key 'template': unknown template '{cfg.template}'; choose vanilla, chat or r1")
    if cfg.old_logprobs not in ("current", "sampling"):
        raise ConfigError("config key 'old_logprobs': choose 'current' or 'sampling'")
    if cfg.sampling_seed not in ("step", "prompt"):
        raise ConfigError("config key 'sampling_seed': choose 'step' or 'prompt'")
    if cfg.lr_scheduler not in ("constant", "cosine"):
        raise ConfigError("config key 'lr_scheduler': choose 'constant' or 'cosine'")
    if cfg.kl_estimator not in ("k1", "k2", "k3"):
        raise ConfigError("config key 'kl_estimator': choose k1, k2 or k3")
    if not 0 < cfg.temperature:
        raise ConfigError(f"config key 'temperature': must be > 0, got {cfg.temperature}")
    # controllers check their own options: build one now, before any model loads
    from hybridrl.methods.registry import build_controller

    try:
        build_controller(cfg)
    except (ValueError, KeyError) as e:
        raise ConfigError(f"method '{cfg.method}': {e}") from None
    for backend in filter(None, (b.strip() for b in cfg.report_to.split(","))):
        if backend not in ("none", "tensorboard", "wandb", "trackio"):
            raise ConfigError(f"config key 'report_to': unknown backend '{backend}'")


def config_to_dict(cfg: TrainConfig) -> dict[str, Any]:
    return dataclasses.asdict(cfg)
