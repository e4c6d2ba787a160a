"""What the loop writes about a step and a run: rollout statistics (global over processes)
and the run summary (``summary.json``)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


def rollout_metrics(rollouts, rewards, correct, rows, counts, par) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Reward, accuracy and length statistics of a step's rollouts over all processes, and
    the per-prompt accuracy of this process's groups (``{"ids", "acc"}``; None when the
    samples do not form equal groups)."""
    k = rollouts.num_samples // max(1, len(rows))
    groups = rewards.view(len(rows), k) if rewards.numel() == len(rows) * k else None
    lengths = rollouts.completion_mask.sum(1).float()
    truncated = sum(1 for f in rollouts.finish_reasons if f == "length")
    zero_std = float((groups.std(1, unbiased=False) == 0).sum()) if groups is not None else 0.0
    n = float(rewards.numel())
    s = par.sum([float(rewards.sum()), float((rewards ** 2).sum()), n, zero_std, float(len(rows)),
                  float(lengths.sum()), float(truncated), float(correct.sum()),
                  *[float(counts.get(c, 0)) for c in ("reward/timeouts", "reward/errors", "reward/extract_failed")]])
    mean = s[0] / s[2]
    out = {
        "reward": mean,
        "reward_std": math.sqrt(max(0.0, s[1] / s[2] - mean ** 2)),
        "accuracy": s[7] / s[2],
        "frac_reward_zero_std": s[3] / max(1.0, s[4]),
        "completions/mean_length": s[5] / s[2],
        "completions/clipped_ratio": s[6] / s[2],
        "reward/timeouts": s[8], "reward/errors": s[9], "reward/extract_failed": s[10],
    }
    group_acc = None
    if groups is not None:
        group_acc = {"ids": [r.id for r in rows], "acc": correct.view(len(rows), k).float().mean(1).tolist()}
    return out, group_acc


def run_summary(run_dir: Path, cfg, total_steps: int, data_stats, final_eval, checkpoint_dir,
                controller_metrics: dict[str, Any]) -> dict[str, Any]:
    """The run's summary, from its ``metrics.jsonl``."""
    recs = []
    p = run_dir / "metrics.jsonl"
    if p.exists():
        recs = [json.loads(line) for line in p.read_text().splitlines() if line.strip()]
    rewards = [r["reward"] for r in recs if isinstance(r.get("reward"), (int, float))]
    return {
        "method": cfg.method,
        "model": cfg.model,
        "steps": total_steps,
        "data": data_stats,
        "reward_first": rewards[0] if rewards else None,
        "reward_last": rewards[-1] if rewards else None,
        "reward_mean_last_10": sum(rewards[-10:]) / len(rewards[-10:]) if rewards else None,
        "final_eval": final_eval,
        "checkpoint": str(checkpoint_dir) if checkpoint_dir else None,
        "controller": {k: v for k, v in controller_metrics.items()
                       if isinstance(v, (int, float, str, bool)) or v is None},
        "wall_time_s": sum(r.get("step_time", 0.0) for r in recs),
    }
