"""The Adaptive Switch on its own (SuperRL §3.3): are this task's rewards dense or sparse
for this model?

:func:`run_probe` runs k pure-RL steps through the real training loop
(:class:`~hybridrl.training.loop.trainer.Trainer`, given a plain RL controller), feeds each step's batch-mean reward to
:class:`~hybridrl.methods.superrl.AdaptiveSwitch`, and returns the decision with every
number it was taken from. It is exactly the probe that ``superrl`` and ``auto`` run before
they choose, so its answer predicts theirs for the same config and seed.

- The RL method: ``method`` when it is a plain RL method (one the registry builds from an
  estimator preset without demonstrations: grpo, dr_grpo, reinforce, rloo, ppo); otherwise
  (e.g. a hybrid's recipe) the hybrid's own probe: the default method's controller with
  ``rl_preset``.
- k, m and the thresholds are the ``superrl_*`` options; unset, they follow SuperRL §3.3 by
  batch size: prompts_per_step > 32 -> k = 10, m = 10, increase_threshold = 3,
  avg_threshold = 0.1; otherwise k = 50, m = 10, 20 and 0.2.
- increase_num counts strict rises between adjacent steps (k steps, at most k − 1 rises;
  see :mod:`hybridrl.methods.superrl` for SuperRL Table 7's counting); recent_avg is the
  mean of the last m step rewards. Sparse iff increase_num < increase_threshold AND
  recent_avg < avg_threshold.

Like SuperRL's probe it trains the policy during the k steps (rewards rise only if RL
learns), but it keeps no checkpoint: its product is the decision. The output directory gets
``probe.json`` (the returned dict), ``metrics.jsonl`` (one record per probe step, the
training loop's keys) and ``config.yaml`` (the probe's resolved config).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

SWITCH_KEYS = ("superrl_k", "superrl_m", "superrl_increase_threshold", "superrl_avg_threshold")


def probe_method(cfg) -> tuple[str, str]:
    """(method, preset) of the probe run: a plain RL method probes as itself; any other
    method (a hybrid) probes with ``rl_preset`` under the default method's name."""
    from hybridrl.methods.registry import method_spec
    from hybridrl.config import DEFAULTS

    spec = method_spec(cfg.method)
    own = spec.kwargs.get("preset")
    if own is not None and not spec.needs_demos:
        return cfg.method, own
    return DEFAULTS["method"], cfg.rl_preset


def probe_config(cfg):
    """The config of the probe run: its RL method for k = the switch's probe length steps."""
    from hybridrl.methods.superrl import AdaptiveSwitch
    from hybridrl.config import validate

    k = AdaptiveSwitch.from_config(cfg).k
    method, preset = probe_method(cfg)
    pcfg = dataclasses.replace(cfg, method=method, rl_preset=preset, steps=k)
    validate(pcfg)
    return pcfg


def run_probe(cfg) -> dict[str, Any]:
    """Run the Adaptive Switch probe for ``cfg`` (a :class:`~hybridrl.config.TrainConfig`).

    Returns (and writes to ``<output_dir>/probe.json``) the decision and its inputs:
    ``decision`` (``dense``/``sparse``), ``reason``, ``rewards`` (k batch-mean rewards),
    ``increase_num``, ``recent_avg``, ``k``, ``m``, ``increase_threshold``,
    ``avg_threshold``, ``thresholds`` (``superrl defaults for batch size ...`` or the keys
    set by the user), ``rl`` (method/preset probed) and the run's size.
    """
    from hybridrl.methods.plain import RLController
    from hybridrl.methods.superrl import AdaptiveSwitch
    from hybridrl.training.loop.trainer import Trainer

    t0 = time.time()
    switch = AdaptiveSwitch.from_config(cfg)
    pcfg = probe_config(cfg)
    preset = pcfg.rl_preset
    trainer = Trainer(pcfg, controller=RLController(pcfg, preset=preset))
    _probe_steps(trainer, switch, pcfg)
    result = _result(cfg, pcfg, switch, preset, time.time() - t0)
    if trainer.par.main:
        out_dir = Path(pcfg.output_dir)
        tmp = out_dir / "probe.json.tmp"
        tmp.write_text(json.dumps(result, indent=2))
        tmp.replace(out_dir / "probe.json")
    return result


def _probe_steps(trainer, switch, pcfg) -> None:
    """k RL steps; each step's batch-mean reward (all processes) goes to the switch."""
    from hybridrl.training.persistence.tracking import MetricsLog, Progress

    out_dir = Path(pcfg.output_dir)
    log = MetricsLog(out_dir / "metrics.jsonl") if trainer.par.main else None
    bar = Progress(switch.k, 0, pcfg.progress and trainer.par.main, pcfg.log_every)
    try:
        for step in range(switch.k):
            record = trainer.step(step)
            switch.record(record["reward"])  # the batch mean over all processes
            record.update(switch.metrics("probe"))
            if log:
                log.write(record)
            bar.update(record)
    finally:
        bar.close()
        if log:
            log.close()


def _result(cfg, pcfg, switch, preset: str, wall_time_s: float) -> dict[str, Any]:
    large = cfg.prompts_per_step > 32
    set_by_user = [k for k in SWITCH_KEYS if getattr(cfg, k) is not None]
    defaults = (f"SuperRL §3.3 defaults for prompts_per_step {'>' if large else '<='} 32"
                + (f" (overridden: {', '.join(set_by_user)})" if set_by_user else ""))
    return {
        "decision": switch.decision,
        "reason": switch.reason(),
        "rewards": list(switch.rewards),
        "increase_num": switch.increase_num,
        "recent_avg": switch.recent_avg,
        "k": switch.k,
        "m": switch.m,
        "increase_threshold": switch.increase_threshold,
        "avg_threshold": switch.avg_threshold,
        "thresholds": defaults,
        "rl": {"method": pcfg.method, "preset": preset},
        "suggestion": ("pure RL: hybrids add little when rewards are dense (SuperRL Table 2)"
                       if switch.decision == "dense" else
                       "a hybrid (hpt, superrl, luffy, sasr, or auto): RL alone learns little from sparse rewards"),
        "model": cfg.model,
        "task": cfg.task,
        "data": cfg.data,
        "prompts_per_step": cfg.prompts_per_step,
        "group_size": cfg.group_size,
        "seed": cfg.seed,
        "output_dir": str(pcfg.output_dir),
        "wall_time_s": wall_time_s,
    }


def format_result(res: dict[str, Any]) -> str:
    """The probe's answer in a few lines, numbers included."""
    rewards = " ".join(f"{r:.3f}" for r in res["rewards"])
    where = res["task"] or res["data"]
    lines = [
        f"probe: {res['rl']['method']} ({res['rl']['preset']}) on {where}, model {res['model']}, "
        f"{res['prompts_per_step']} prompts x {res['group_size']} samples per step, k={res['k']} steps",
        f"step rewards: {rewards}",
        f"increase_num = {res['increase_num']} rises between adjacent steps  (sparse needs < {res['increase_threshold']})",
        f"recent_avg   = {res['recent_avg']:.4g} over the last {min(res['m'], len(res['rewards']))} steps  "
        f"(sparse needs < {res['avg_threshold']:g})",
        f"thresholds: {res['thresholds']}",
        f"decision: {res['decision'].upper()} -> {res['suggestion']}",
    ]
    return "\n".join(lines)
