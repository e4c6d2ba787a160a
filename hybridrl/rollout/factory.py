"""Build the rollout engine a run asks for (``rollout_engine``): HF ``generate`` today."""

from __future__ import annotations

from typing import Any


def build_generator(cfg: Any, model: Any, tokenizer: Any):
    """The generator the training loop samples with (and evaluation reuses)."""
    from hybridrl.rollout.generator import HFGenerator

    return HFGenerator(model, tokenizer, bf16=cfg.bf16)
