"""The Python API (for notebooks and scripts): the same checks and run safety as the CLI.

    from hybridrl import TrainConfig, train, evaluate, compare

    cfg = TrainConfig(method="grpo", model="tiny", task="chain_sum", steps=2, group_size=2,
                      prompts_per_step=2, max_new_tokens=8)
    summary = train(cfg)                          # -> dict, also <output_dir>/summary.json
    train(resume=summary["output_dir"], steps=4)  # continue it with its own config
    res = evaluate(summary["checkpoint"] + "/model", task="chain_sum", size=16)
    compare(["grpo", "hpt"], task="chain_sum", model="tiny", steps=2, output_dir="runs/cmp")

``TrainConfig(...)`` type- and range-checks every value when it is built (``steps="2"`` is a
:class:`~hybridrl.config.ConfigError` naming the key); :func:`train` adds the checks
that look at names (method, task, model typos, the reward function) before any model loads.
``reward_fn`` may be a Python callable ``fn(completion, row) -> float``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from hybridrl.config import ConfigError, TrainConfig, validate

__all__ = ["TrainConfig", "ConfigError", "train", "evaluate", "compare"]


def train(config: TrainConfig | None = None, *, resume: str | Path | None = None, overwrite: bool = False,
          **options: Any) -> dict[str, Any]:
    """Train one run and return its summary (``output_dir`` and ``checkpoint`` included).

    ``config``: a :class:`TrainConfig`; or give its fields as keyword ``options``
    (``train(method="grpo", task="chain_sum", steps=2)``). ``resume``: a run folder to continue
    with its saved config; ``options`` are then overrides, and only the safe ones (more steps,
    logging, eval/save cadence, speed) are accepted. ``overwrite``: replace a run already in
    ``output_dir`` (else that is refused, naming what differs). Interrupted with Ctrl-C, it
    saves a checkpoint and raises :class:`~hybridrl.training.loop.interrupt.RunInterrupted`.
    """
    from hybridrl.training.loop.runner import resume_config, run_training

    if resume is not None:
        if config is not None:
            raise ConfigError("train(resume=RUN) continues RUN with its own config: pass overrides as keywords, "
                              "not a TrainConfig")
        cfg = resume_config(resume, cli=options)
    else:
        if config is None:
            config = TrainConfig(**options)
        elif options:
            import dataclasses

            config = dataclasses.replace(config, **options)
        if not isinstance(config, TrainConfig):
            raise ConfigError(f"train() takes a TrainConfig, got {type(config).__name__}")
        validate(config)
        cfg = config
    summary = run_training(cfg, resume=resume, overwrite=overwrite)
    summary.setdefault("output_dir", str(cfg.output_dir))
    return summary


def evaluate(model: str | Path, *, task: str | None = None, data: str | list[str] | None = None, size: int = 64,
             difficulty: str | None = None, seed: int = 0, samples: int = 0, ks: tuple[int, ...] = (1,),
             temperature: float = 0.6, top_p: float = 0.95, template: str | None = None,
             max_new_tokens: int | None = None, batch_size: int = 16, bf16: bool | str = "auto",
             reward_fn: Any = None, prompt_column: str | None = None, answer_column: str | None = None,
             demonstration_column: str | None = None, data_split: str | None = None,
             rollout_engine: str = "hf", progress: bool = False) -> dict[str, Any]:
    """Greedy accuracy (and avg@K / pass@k with ``samples``) of ``model`` (a name, an HF folder,
    a run folder — its final model — or a checkpoint in it) on built-in ``task``(s)
    (``"chain_sum,knights_knaves:2"``) and/or data files. Returns the ``eval.json`` structure of
    ``hybridrl eval``.

    A run is evaluated with its own ``template``, token budget, ``reward_fn`` and column mapping
    (``prompt_column=`` ...) unless given here. Accuracy is always the task verifier's;
    ``reward_fn`` (``"module:function"`` or a Python callable ``fn(completion, row)``, as in
    :func:`train`) is scored apart: ``greedy_reward`` / ``sample_reward`` per set. A verifier or
    reward that fails on every answer raises :class:`ConfigError` (never a silent 0)."""
    from hybridrl.commands.eval import check_sampling
    from hybridrl.eval.evaluate import EvalSettings, evaluate_model, load_data_sets, parse_task_specs
    from hybridrl.eval.from_run import columns_of, resolve
    from hybridrl.config import check_reward_fn, native_bf16

    if not task and not data:
        raise ConfigError("evaluate(): give task= or data=")
    check_sampling(samples, temperature, size)
    if samples < max(ks):
        if max(ks) > 1 or samples:
            raise ConfigError(f"evaluate(): pass@k needs k <= samples (ks={ks}, samples={samples})")
    check_reward_fn(reward_fn)
    if reward_fn is not None and not isinstance(reward_fn, str):  # a callable: the workers import it
        import tempfile

        from hybridrl.training.loop.runner import importable_reward

        reward_fn = importable_reward(reward_fn, Path(tempfile.mkdtemp(prefix="hybridrl-eval-reward-")))
    given = {"template": template, "max_new_tokens": max_new_tokens, "reward_fn": reward_fn, "timeout_s": None,
             "prompt_column": prompt_column, "answer_column": answer_column,
             "demonstration_column": demonstration_column, "data_split": data_split}
    m, opts, _ = resolve(model, given, log=_print)
    sets: dict[str, list] = {}
    if task:
        sets.update(parse_task_specs(task, size=size, seed=seed, difficulty=difficulty))
    if data:
        sets.update(load_data_sets([data] if isinstance(data, (str, Path)) else list(data),
                                   columns=columns_of(opts), split=opts["data_split"], taken=list(sets)))
    use_bf16 = native_bf16() if str(bf16).lower() == "auto" else str(bf16).lower() in ("true", "1")
    settings = EvalSettings(template=opts["template"], max_new_tokens=opts["max_new_tokens"], samples=samples,
                            temperature=temperature, top_p=top_p, ks=tuple(ks), bf16=use_bf16,
                            batch_size=batch_size, seed=seed, reward_fn=opts["reward_fn"],
                            timeout_s=opts["timeout_s"], rollout_engine=rollout_engine)
    return evaluate_model(m, sets, settings, progress=progress, label=str(model))


def compare(methods: list[str], *, output_dir: str | Path, task: str | None = None, data: str | None = None,
            model: str | None = None, steps: int | None = None, seed: int | None = None,
            config: str | Path | None = None, overrides: dict[str, Any] | None = None,
            **eval_options: Any) -> dict[str, Any]:
    """Train every method on equal terms, evaluate them and the base model, write report.md and
    report.html into ``output_dir`` (as ``hybridrl compare``). ``overrides``: config keys for
    every method; ``eval_options``: ``eval_size``, ``samples``, ``ks``, ... of ``run_compare``."""
    from hybridrl.pipelines.compare import run_compare

    if len(set(methods)) != len(methods):
        raise ConfigError("compare(): a method is listed twice")
    cli = {"model": model, "task": task, "data": data, "steps": steps, "seed": seed}
    overrides = dict(overrides or {})
    if overrides.get("reward_fn") is not None and not isinstance(overrides["reward_fn"], str):
        # a Python callable, as train() takes: importable by every run's reward workers
        from hybridrl.config import check_reward_fn
        from hybridrl.training.loop.runner import importable_reward

        check_reward_fn(overrides["reward_fn"])
        overrides["reward_fn"] = importable_reward(overrides["reward_fn"], Path(output_dir))
    items = [f"{k}={v}" for k, v in overrides.items()]
    return run_compare(list(methods), output_dir=output_dir, cli=cli, overrides=items, config=config,
                       **eval_options)


def _print(msg: str) -> None:
    """A note to the user on stderr, as the CLI's (what ``evaluate`` took from a run's config)."""
    print(msg, file=sys.stderr)
