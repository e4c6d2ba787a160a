"""The CPU training run the crash/interrupt tests kill and resume, one copy for both
(test_crash_resume.py, test_run_safety.py): its CLI arguments, its final weights, the
weight comparison and the cached uninterrupted reference."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import load_file

from hybridrl.cli import main
from hybridrl.training.persistence import checkpoint as ckpt
from tiny_run import as_overrides, tiny_run

STEPS = 4


def run_args(out: Path, steps: int = STEPS, save_every: int = 1) -> list[str]:
    """``hybridrl train`` arguments of the tiny GRPO run (scripted even-length reward)."""
    # bf16 left at auto, as this run always was: its timing is what the random kills were tuned on
    settings = tiny_run(method="grpo", steps=steps, output_dir=str(out), eval_size=0, save_every=save_every,
                        keep_last=2, bf16=None)
    settings["reward_fn"] = settings.pop("reward_fn")  # last: a test swaps in its own reward (args[-1])
    return ["train", *as_overrides(settings, flags=("method", "model", "task", "steps", "output_dir"))]


def final_weights(run: Path, steps: int | None = None) -> dict[str, torch.Tensor]:
    """The weights of checkpoint ``step-{steps}`` (None: the latest checkpoint)."""
    where = ckpt.latest_checkpoint(run) if steps is None else run / "checkpoints" / f"step-{steps:06d}"
    return load_file(str(where / "model" / "model.safetensors"))


def assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-6, rtol=0)


def reference_runs(tmp_path_factory, args: Callable[..., list[str]]) -> Callable[..., dict[str, torch.Tensor]]:
    """``get(steps)``: the final weights of an uninterrupted run of ``args(out, steps)``, run once per
    number of steps (for a module-scoped fixture)."""
    cache: dict[int, dict[str, torch.Tensor]] = {}

    def get(steps: int = STEPS) -> dict[str, torch.Tensor]:
        if steps not in cache:
            out = tmp_path_factory.mktemp("ref") / "run"
            assert main(args(out, steps)) == 0
            cache[steps] = final_weights(out, steps)
        return cache[steps]

    return get
