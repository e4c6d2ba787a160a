"""Checks that need more than one section, or other layers: the method and its spec, model,
task and reward names, a reward function's signature, logging backends; and the warnings
about settings that cannot take effect (each method's own come from its module)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from hybridrl.config.keys import DEFAULTS, KEYS
from hybridrl.config.values import ConfigError, suggest_from

KNOWN_MODELS = ("tiny", "smollm2-135m")


def check_values(cfg: Any) -> None:
    """The checks across sections that need nothing but the values (run when a config is
    built; each section has checked its own values before)."""
    from hybridrl.methods.registry import METHODS

    if cfg.method not in METHODS:
        from hybridrl.core.presets import PRESETS

        if cfg.method in PRESETS:  # e.g. method: dapo (the error did not name rl_preset)
            raise ConfigError(f"config key 'method': '{cfg.method}' is an RL loss preset, not a method: use "
                              f"method=grpo rl_preset={cfg.method} (or a hybrid with rl_preset={cfg.method})")
        raise ConfigError(f"config key 'method': unknown method '{cfg.method}'{suggest_from(cfg.method, METHODS)}; "
                          f"choose one of {', '.join(METHODS)}")
    if cfg.rollout.vllm_importance_sampling_correction and cfg.batch.old_logprobs == "sampling":
        raise ConfigError("config key 'vllm_importance_sampling_correction': the correction needs "
                          "old_logprobs=current: with sampling the ratio's denominator is already vLLM's")


def validate(cfg: Any, notes: list[str] | None = None) -> None:
    """Checks that need no model: values in range, combinations that make sense, names that
    exist (method, task, model typos, reward function). Schedules that cannot take effect are
    warned about (appended to ``notes``, else printed)."""
    from hybridrl.core.aggregation import AGG_MODES
    from hybridrl.core.presets import PRESETS
    from hybridrl.methods.registry import build_controller, method_spec

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
        raise ConfigError(f"config key 'loss_agg_mode': unknown mode '{cfg.loss_agg_mode}'; choose one of "
                          f"{', '.join(AGG_MODES)}")
    check_reward_fn(cfg.reward_fn)
    check_report_to(cfg.report_to)
    try:  # controllers check their own options: build one now, before any model loads
        build_controller(cfg)
    except (ValueError, KeyError) as e:
        raise ConfigError(f"method '{cfg.method}': {e}") from None
    warns = [f"warning: {w}" for w in schedule_warnings(cfg)]
    if notes is not None:
        notes.extend(warns)
    else:
        for w in warns:
            print(f"hybridrl: {w}", file=sys.stderr)


def schedule_warnings(cfg: Any) -> list[str]:
    """Schedules that cannot take effect within ``steps`` (the run would silently be something
    else: SuperRL stuck in its probe, SASR pure SFT ...): the method's own (its spec's
    ``warnings``), then the general ones."""
    from hybridrl.methods.registry import method_spec

    spec = method_spec(cfg.method)
    out = list(spec.warnings(cfg)) if spec.warnings is not None else []
    if cfg.warmup_steps >= cfg.steps and cfg.warmup_steps > 0:
        out.append(f"warmup_steps={cfg.warmup_steps} >= steps={cfg.steps}: the learning rate never reaches lr.")
    if cfg.eval_every > cfg.steps:
        out.append(f"eval_every={cfg.eval_every} > steps={cfg.steps}: only the final evaluation runs.")
    if cfg.save_every > cfg.steps:
        out.append(f"save_every={cfg.save_every} > steps={cfg.steps}: only the final checkpoint is written.")
    out += foreign_option_warnings(cfg)
    return out


def foreign_option_warnings(cfg: Any) -> list[str]:
    """A method-specific option set away from its default for a method that does not read it
    (``hpt_gamma=5`` with grpo, ``rl_preset=dapo`` with sft): said, naming its method, rather than
    silently ignored. A warning, not an error: ``compare`` hands one set of keys to every method."""
    from hybridrl.methods.registry import METHODS, option_owners, readers

    out = []
    mine = readers(cfg)
    fixed = METHODS[cfg.method].overrides
    for name in KEYS:
        owners = option_owners(name)
        if owners is None or mine & set(owners) or getattr(cfg, name) == DEFAULTS.get(name) or name in fixed:
            continue
        out.append(f"{name}={getattr(cfg, name)} is an option of {', '.join(owners)}; method '{cfg.method}' "
                   f"ignores it")
    return out


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
        # runs/nope: a local path (its first folder exists here), not a hub id
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
        from hybridrl.rewards.verifiers import resolve_reward

        name = str(reward_fn)
        if ":" not in name:
            raise ConfigError(f"config key 'reward_fn': expected 'module:function' or 'file.py:function', "
                              f"got {name!r}")
        mod = name.rpartition(":")[0]
        try:
            fn = resolve_reward(name)
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


def check_report_to(report_to: str) -> None:
    """Each logging backend's package is importable, checked before any work (a missing one
    was a traceback after the run had started)."""
    import importlib.util

    for name in filter(None, (b.strip() for b in report_to.split(","))):
        if name != "none" and importlib.util.find_spec(name) is None:
            raise ConfigError(f"config key 'report_to': {name} is not installed: pip install 'hybridrl[logging]' "
                              f"(or pip install {name}), or drop report_to={name}")
