"""A config as plain values: the flat dict every comparison uses, the nested one ``config.yaml``
holds (``method`` first, then a mapping per section), and reading either back — run folders
written before the sections were introduced hold a flat ``config.yaml`` and still resume and
are still reused by ``compare``."""

from __future__ import annotations

from typing import Any

from hybridrl.config.keys import DEFAULTS, KEYS, SECTIONS
from hybridrl.config.values import ConfigError

SAFE_RESUME_KEYS = frozenset({
    "steps", "log_every", "eval_every", "eval_size", "save_every", "save_every_minutes", "keep_last", "progress",
    "report_to",
    "eval_max_new_tokens", "micro_batch_size", "gradient_checkpointing", "bf16", "reward_timeout",
    "max_nonfinite_steps", "keep_optimizer",
    # memory of the vLLM engine
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
    """A saved config (``config.yaml`` as a dict, flat or nested) as a flat dict with
    :data:`LEGACY_DEFAULTS` filled in for the keys it lacks; an empty or missing one is
    returned as it is."""
    if not saved:
        return saved
    saved = flatten(saved, strict=False)
    return {**{k: v for k, v in LEGACY_DEFAULTS.items() if k not in saved}, **saved}


def flatten(d: dict[str, Any], strict: bool = True, source: str = "") -> dict[str, Any]:
    """A config mapping, nested (``optimizer: {lr: ...}``, as config.yaml is written) or flat
    (``lr: ...``, as recipes and run folders written before the sections are), as one flat
    mapping. ``strict``: a key under a section that does not hold it is a ConfigError (recipes);
    otherwise it is kept (a run folder of another version)."""
    out: dict[str, Any] = {}
    where = f"{source}: " if source else ""
    for k, v in d.items():
        if k in SECTIONS and isinstance(v, dict):
            for key, value in v.items():
                owner = KEYS.get(str(key).replace("-", "_"))
                if strict and owner is not None and owner != k:
                    raise ConfigError(f"{where}config key '{key}' is in section '{owner}', not '{k}'")
                out[key] = value
        else:
            out[k] = v
    return out


def reward_fn_name(fn: Any) -> str | None:
    """How config.yaml records a reward function: its ``module:function`` path, or for a
    callable ``module:qualname`` (``__main__:f`` for one defined in a notebook or script)."""
    if fn is None or isinstance(fn, str):
        return fn
    return f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', repr(fn))}"


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """The resolved config as one flat mapping of YAML-safe values (a callable reward is recorded
    by name), ``method`` first, then section by section."""
    d = {k: getattr(cfg, k) for k in KEYS}
    d["reward_fn"] = reward_fn_name(d.get("reward_fn"))
    return d


def nested_config(cfg: Any) -> dict[str, Any]:
    """The resolved config as ``config.yaml`` holds it: ``method``, then one mapping per section."""
    flat = config_to_dict(cfg)
    out: dict[str, Any] = {"method": flat.pop("method")}
    for k, v in flat.items():
        out.setdefault(KEYS[k], {})[k] = v
    return out


def config_defaults() -> dict[str, Any]:
    """Every key's default (keys whose default is computed, e.g. ``output_dir``, are None)."""
    return dict(DEFAULTS)
