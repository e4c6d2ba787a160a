"""The Python API (for notebooks and scripts): the same checks and run safety as the CLI.

    from hybridrl import TrainConfig, train, evaluate, compare

    cfg = TrainConfig(method="grpo", model="tiny", task="chain_sum", steps=2, group_size=2,
                      prompts_per_step=2, max_new_tokens=8)
    summary = train(cfg)                          # -> dict, also <output_dir>/summary.json
    train(resume=summary["output_dir"], steps=4)  # continue it with its own config
    res = evaluate(summary["checkpoint"] + "/model", task="chain_sum", size=16)
    compare(["grpo", "hpt"], task="chain_sum", model="tiny", steps=2, output_dir="runs/cmp")

``TrainConfig(...)`` type- and range-checks every value when it is built (``steps="2"`` is a
:class:`~hybridrl.train.config.ConfigError` naming the key); :func:`train` adds the checks
that look at names (method, task, model typos, the reward function) before any model loads.
``reward_fn`` may be a Python callable ``fn(completion, row) -> float``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hybridrl.train.config import ConfigError, TrainConfig, validate

__all__ = ["TrainConfig", "ConfigError", "train", "evaluate", "compare"]


def train(config: TrainConfig | None = None, *, resume: str | Path | None = None, overwrite: bool = False,
          **options: Any) -> dict[str, Any]:
    """Train one run and return its summary (``output_dir`` and ``checkpoint`` included).

    ``config``: a :class:`TrainConfig`; or give its fields as keyword ``options``
    (``train(method="grpo", task="chain_sum", steps=2)``). ``resume``: a run folder to continue
    with its saved config; ``options`` are then overrides, and only the safe ones (more steps,
    logging, eval/save cadence, speed) are accepted. ``overwrite``: replace a run already in
    ``output_dir`` (else that is refused, naming what differs). Interrupted with Ctrl-C, it
    saves a checkpoint and raises :class:`~hybridrl.train.interrupt.RunInterrupted`.
    """
    from hybridrl.train.runner import resume_config, run_training

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
             temperature: float = 0.6, top_p: float = 0.95, template: str = "chat", max_new_tokens: int = 256,
             batch_size: int = 16, bf16: bool | str = "auto", reward_fn: str | None = None,
             rollout_engine: str = "hf", progress: bool = False) -> dict[str, Any]:
    """Greedy accuracy (and avg@K / pass@k with ``samples``) of ``model`` (a name, an HF folder
    or a run folder: its final model) on built-in ``task``(s) (``"chain_sum,knights_knaves:2"``)
    and/or data files. Returns the ``eval.json`` structure of ``hybridrl eval``."""
    from hybridrl.eval.evaluate import EvalSettings, evaluate_model, final_model_dir, load_data_sets, parse_task_specs
    from hybridrl.train.config import check_model_name, native_bf16

    if not task and not data:
        raise ConfigError("evaluate(): give task= or data=")
    if samples < max(ks):
        if max(ks) > 1 or samples:
            raise ConfigError(f"evaluate(): pass@k needs k <= samples (ks={ks}, samples={samples})")
    sets: dict[str, list] = {}
    if task:
        sets.update(parse_task_specs(task, size=size, seed=seed, difficulty=difficulty))
    if data:
        sets.update(load_data_sets([data] if isinstance(data, (str, Path)) else list(data)))
    m = Path(model)
    if m.is_dir() and (m / "checkpoints").is_dir():
        m = final_model_dir(m) or m
    else:
        check_model_name(str(model))
    use_bf16 = native_bf16() if str(bf16).lower() == "auto" else str(bf16).lower() in ("true", "1")
    settings = EvalSettings(template=template, max_new_tokens=max_new_tokens, samples=samples,
                            temperature=temperature, top_p=top_p, ks=tuple(ks), bf16=use_bf16,
                            batch_size=batch_size, seed=seed, reward_fn=reward_fn, rollout_engine=rollout_engine)
    return evaluate_model(str(m), sets, settings, progress=progress, label=str(model))


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
    items = [f"{k}={v}" for k, v in (overrides or {}).items()]
    return run_compare(list(methods), output_dir=output_dir, cli=cli, overrides=items, config=config,
                       **eval_options)

