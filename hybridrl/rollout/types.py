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
    return_logprobs: bool = True
    """Compute the sampling log-probs (keeps every step's (B, V) logits during generation);
    False returns zeros and saves that memory (the trainer recomputes them by default)."""
    min_new_tokens: int = 0
    """Suppress EOS before this many tokens (benchmarks use it to fix the work per step)."""
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
    has_logprobs: bool = True
    """False when the call did not ask for log-probs (``return_logprobs=False``): ``logprobs`` is
    then all zeros and means nothing."""
    prefix_lengths: torch.Tensor | None = None
    """(P,) long: demonstration tokens appended to each prompt before sampling
    (``hybridrl.rollout.prefix``); ``prompt_ids`` then hold prompt + prefix. None = no prefixes."""

    @property
    def num_samples(self) -> int:
        return int(self.completion_ids.shape[0])


def concat_rollouts(batches: list[RolloutBatch]) -> RolloutBatch:
    """Concatenate rollout batches prompt-wise (prompt indices are shifted; completions are
    right-padded to the widest batch)."""
    width = max(int(b.completion_ids.shape[1]) for b in batches)

    def pad(x: torch.Tensor, value: float) -> torch.Tensor:
        return torch.nn.functional.pad(x, (0, width - x.shape[1]), value=value)

    prompt_ids, index, offset = [], [], 0
    for b in batches:
        prompt_ids += b.prompt_ids
        index.append(b.prompt_index + offset)
        offset += len(b.prompt_ids)
    pad_id = int(batches[0].completion_ids[0, -1]) if batches[0].completion_mask[0, -1] == 0 else 0
    return RolloutBatch(
        prompt_ids=prompt_ids,
        prompt_index=torch.cat(index),
        completion_ids=torch.cat([pad(b.completion_ids, pad_id) for b in batches]),
        completion_mask=torch.cat([pad(b.completion_mask, 0) for b in batches]),
        logprobs=torch.cat([pad(b.logprobs, 0) for b in batches]),
        texts=[t for b in batches for t in b.texts],
        finish_reasons=[f for b in batches for f in b.finish_reasons],
        has_logprobs=all(b.has_logprobs for b in batches),
        prefix_lengths=(None if all(b.prefix_lengths is None for b in batches) else torch.cat([
            b.prefix_lengths if b.prefix_lengths is not None else torch.zeros(len(b.prompt_ids), dtype=torch.long)
            for b in batches])),
    )
