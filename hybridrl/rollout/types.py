"""Records passed from the generator to the rest of the loop."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class SamplingParams:
    """How completions are sampled. Defaults follow TRL's GRPOTrainer."""

    n: int = 8
    """Completions per prompt (the group size)."""
    max_new_tokens: int = 256
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    """0 disables top-k."""
    greedy: bool = False
    """Greedy decoding (ignores temperature/top-p/top-k; log-probs are then at T=1)."""
    seed: int | None = None
    """Seed for this call (reproducible sampling); None uses the global RNG."""


@dataclass
class RolloutBatch:
    """n completions for each of P prompts, flattened prompt-major: N = P * n.

    Sample i belongs to prompt ``prompt_index[i]`` and holds ``completion_ids[i, :L_i]``
    with ``completion_mask[i, :L_i] == 1``; positions past L_i are padding (mask 0).
    """

    prompt_ids: list[list[int]]
    """Token ids of each *prompt* (unpadded), length P."""
    prompt_index: torch.Tensor
    """(N,) long: index into ``prompt_ids`` of each sample."""
    completion_ids: torch.Tensor
    """(N, T) long: right-padded completion token ids (EOS included when generated)."""
    completion_mask: torch.Tensor
    """(N, T) float: 1 for real completion tokens, 0 for padding."""
    logprobs: torch.Tensor
    """(N, T) float: log-probs of the sampled tokens under the sampling policy
    (log_softmax(logits / temperature)); 0 at padding."""
    texts: list[str]
    """Decoded completions (special tokens skipped), length N."""
    finish_reasons: list[str]
    """"stop" (EOS generated) or "length" (hit max_new_tokens), length N."""

    @property
    def num_samples(self) -> int:
        return int(self.completion_ids.shape[0])
