"""metrics.jsonl, the progress bar, the summary line and optional tracking backends."""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if hasattr(v, "item"):
        return _clean(v.item())
    return v


class MetricsLog:
    """Appends one JSON object per line and flushes, so a crash loses at most one line.

    ``step`` counts steps completed (1 for the first step). On resume from a checkpoint after
    N steps, lines with ``step`` > N are dropped first so the file has each step once.
    """

    def __init__(self, path: Path, resume_step: int | None = None):
        self.path = Path(path)
        if resume_step is not None and self.path.exists():
            keep = []
            for line in self.path.read_text().splitlines():
                try:
                    if json.loads(line).get("step", -1) <= resume_step:
                        keep.append(line)
                except json.JSONDecodeError:
                    break  # a torn last line from a crash
            self.path.write_text("".join(l + "\n" for l in keep))
        elif resume_step is None and self.path.exists():
            self.path.unlink()
        self._f = open(self.path, "a")

    def write(self, record: dict[str, Any]) -> None:
        self._f.write(json.dumps({k: _clean(v) for k, v in record.items()}) + "\n")
        self._f.flush()

    def close(self) -> None:
        self._f.close()


class Trackers:
    """tensorboard / wandb / trackio, each imported only when selected."""

    def __init__(self, report_to: str, run_dir: Path, config: dict[str, Any]):
        self.backends: list[tuple[str, Any]] = []
        for name in filter(None, (b.strip() for b in report_to.split(","))):
            if name == "none":
                continue
            try:
                if name == "tensorboard":
                    from torch.utils.tensorboard import SummaryWriter

                    self.backends.append((name, SummaryWriter(str(run_dir / "tensorboard"))))
                elif name == "wandb":
                    import wandb

                    self.backends.append((name, wandb.init(config=config, dir=str(run_dir))))
                elif name == "trackio":
                    import trackio

                    trackio.init(project="hybridrl", config=config)
                    self.backends.append((name, trackio))
            except ImportError as e:
                raise RuntimeError(f"report_to={name} needs its package: pip install 'hybridrl[logging]' ({e})") from None

    def log(self, record: dict[str, Any], step: int) -> None:
        nums = {k: v for k, v in record.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        for name, b in self.backends:
            if name == "tensorboard":
                for k, v in nums.items():
                    b.add_scalar(k, v, step)
            else:
                b.log(nums, step=step)

    def close(self) -> None:
        for name, b in self.backends:
            if name == "tensorboard":
                b.close()
            elif name == "wandb":
                b.finish()
            elif name == "trackio":
                b.finish()


class Progress:
    """A tqdm bar with step, reward, loss and ETA; a summary line every ``log_every`` steps."""

    def __init__(self, total: int, initial: int, enabled: bool, log_every: int):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, initial=initial, disable=not enabled, dynamic_ncols=True, desc="train",
                        file=sys.stderr)
        self.log_every = max(1, log_every)
        self.t0 = time.time()
        self._sft_seen = False  # sft_fraction is shown once a step had SFT (never for pure RL)

    def update(self, record: dict[str, Any]) -> None:
        self._sft_seen = self._sft_seen or bool(record.get("sft_fraction"))
        shown = ("reward", "loss", "sft_fraction") if self._sft_seen else ("reward", "loss")
        post = {k: f"{record[k]:.3f}" for k in shown if isinstance(record.get(k), float)}
        self.bar.set_postfix(post, refresh=False)
        self.bar.update(1)
        step = record["step"]  # steps completed
        if step % self.log_every == 0:
            keys = ("reward", "loss", "pg_loss", "sft_loss", "sft_fraction", "kl", "entropy", "grad_norm",
                    "completions/mean_length", "step_time")
            parts = [f"{k.split('/')[-1]}={record[k]:.4g}" for k in keys if isinstance(record.get(k), (int, float))
                     and (k != "sft_fraction" or self._sft_seen)]
            self.bar.write(f"step {step}: " + " ".join(parts), file=sys.stderr)

    def close(self) -> None:
        self.bar.close()
