"""Demonstration-prefix rollouts: some prompts are sampled from prompt + the first tokens
of their demonstration, and the model continues from there (UFT, Liu et al. 2025; the family of
Prefix-RFT and QuestA-style hints). Engine-agnostic: a prefix is appended to the prompt's token
ids before ``Generator.generate``, so HF ``generate`` and vLLM serve it alike.

The pieces:

- :func:`section_bounds`: a demonstration of n tokens is cut into min(S, n) sections of
  (almost) equal length; a prefix is a whole number of sections (UFT cuts its hint, a list of
  solution steps, into ``min(5, len(hint))`` parts at ``round(k / num · len)``).
- :class:`PrefixPlan` + :func:`prefix_lengths`: how many sections each prompt gets this step,
  drawn from a seeded generator per prompt (so processes and resumed runs agree):
  ``binomial`` (UFT: each section kept with probability p_t, i.e. Binomial(S, p_t) sections),
  ``fixed`` (a given number of sections: UFT's ``stage`` staircase) or ``uniform`` (UFT's
  ``r3`` baseline: a uniformly drawn boundary).
- :func:`uft_hint_prob`, :func:`stage_sections`: UFT's schedules of p_t and of the staircase.
- :func:`with_prefixes`: after sampling, the batch's texts become prefix + continuation (the
  verifier scores the whole answer, as UFT's reward decodes prompt + response), and the batch
  records ``prefix_lengths``. The batch's ``prompt_ids`` are the extended prompts: on-policy
  terms train the continuation *given* the prefix, the prefix tokens are never sampled tokens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import torch

from hybridrl.rollout.types import RolloutBatch

PREFIX_KINDS = ("binomial", "fixed", "uniform")


def section_bounds(num_tokens: int, sections: int) -> list[int]:
    """Token boundaries [0, b_1, ..., n] of min(sections, n) near-equal sections (UFT rl_dataset:
    ``round(k / num * len(hint))``, Python's round, the last bound = n). n = 0 -> [0]."""
    num = min(sections, num_tokens)
    if num <= 0:
        return [0]
    bounds = [round(k / num * num_tokens) for k in range(num + 1)]
    bounds[-1] = num_tokens
    return bounds


def uft_hint_prob(step: int, hint_steps: int, p_low: float, p_high: float) -> float:
    """UFT's p_t = p_low + ½(p_high − p_low)(1 + cos(π t / T_hint)) for t ≤ T_hint, else 0
    (no hint after T_hint; official ``timestep > total_training_steps_hint``)."""
    if step > hint_steps:
        return 0.0
    return p_low + 0.5 * (p_high - p_low) * (1.0 + math.cos(math.pi * step / max(1, hint_steps)))


def stage_sections(step: int, hint_steps: int, sections: int) -> int:
    """UFT's ``stage`` staircase: S − t // (T_hint // (S + 1)) sections, clipped to [0, S];
    0 after T_hint."""
    if step > hint_steps:
        return 0
    return int(min(sections, max(0, sections - step // max(1, hint_steps // (sections + 1)))))


@dataclass(frozen=True)
class PrefixPlan:
    """How many demonstration sections each prompt of this step starts from."""

    kind: str
    """``binomial`` (each of the sections kept with probability ``prob``), ``fixed`` (``count``
    sections) or ``uniform`` (a uniformly drawn boundary, 0 and all included)."""
    sections: int = 5
    prob: float = 0.0
    count: int = 0
    seed: int = 0
    """Base seed of this step; prompt j draws from ``seed + j`` (its global position)."""

    def __post_init__(self) -> None:
        if self.kind not in PREFIX_KINDS:
            raise ValueError(f"unknown prefix kind {self.kind!r}; valid: {', '.join(PREFIX_KINDS)}")
        if self.sections < 1 or not 0.0 <= self.prob <= 1.0:
            raise ValueError(f"prefix plan needs sections >= 1 and prob in [0, 1] (got {self.sections}, {self.prob})")

    def num_sections(self, available: int, gen: torch.Generator) -> int:
        """Sections to keep out of ``available`` (= min(sections, demonstration tokens))."""
        if available <= 0:
            return 0
        if self.kind == "binomial":  # Σ of `available` Bernoulli(p) draws
            return int((torch.rand(available, generator=gen) < self.prob).sum())
        if self.kind == "fixed":
            return min(self.count, available)
        return int(torch.randint(0, available + 1, (1,), generator=gen))


def prefix_lengths(plan: PrefixPlan, demo_lengths: list[int], positions: list[int]) -> list[int]:
    """Prefix length in tokens of each prompt (0: no demonstration, or no section drawn).

    Args:
        demo_lengths: tokens of each prompt's demonstration that may be given (0 = none).
        positions: each prompt's global position in the step (its seed offset).
    """
    out = []
    for n, pos in zip(demo_lengths, positions):
        bounds = section_bounds(n, plan.sections)
        gen = torch.Generator().manual_seed(int(plan.seed) + int(pos))
        out.append(bounds[plan.num_sections(len(bounds) - 1, gen)])
    return out


def with_prefixes(batch: RolloutBatch, prefixes: list[list[int]], tokenizer: Any) -> RolloutBatch:
    """The batch sampled from prompt + prefix, with texts = decode(prefix + continuation) and
    ``prefix_lengths`` set ((P,) long). ``prompt_ids`` stay the extended prompts."""
    texts = []
    for i, p in enumerate(batch.prompt_index.tolist()):
        if not prefixes[p]:
            texts.append(batch.texts[i])
            continue
        ids = batch.completion_ids[i][batch.completion_mask[i].bool()].tolist()
        texts.append(tokenizer.decode(list(prefixes[p]) + ids, skip_special_tokens=True))
    lengths = torch.tensor([len(x) for x in prefixes], dtype=torch.long)
    return replace(batch, texts=texts, prefix_lengths=lengths)


def prefix_sums(lengths: list[int], demo_lengths: list[int]) -> list[float]:
    """[Σ prefix/demonstration over prompts with one, their number, prompts given a prefix, Σ prefix
    tokens, prompts]: sums, so that processes add them up before :func:`metrics_from_sums`."""
    with_demo = [(l, n) for l, n in zip(lengths, demo_lengths) if n > 0]
    return [sum(l / n for l, n in with_demo), float(len(with_demo)), float(sum(l > 0 for l, _ in with_demo)),
            float(sum(lengths)), float(len(lengths))]


def metrics_from_sums(sums: list[float]) -> dict[str, float]:
    """``prefix_fraction``: mean over prompts with a demonstration of prefix / demonstration
    tokens (UFT's ``hint_slice_prop``); ``prefix/prompts``: share of prompts given a prefix;
    ``prefix/tokens``: mean prefix length."""
    frac, n_demo, n_prefixed, tokens, n = sums
    return {"prefix_fraction": frac / n_demo if n_demo else 0.0, "prefix/prompts": n_prefixed / n if n else 0.0,
            "prefix/tokens": tokens / n if n else 0.0}


def prefix_metrics(lengths: list[int], demo_lengths: list[int]) -> dict[str, float]:
    """:func:`metrics_from_sums` of one process's prompts."""
    return metrics_from_sums(prefix_sums(lengths, demo_lengths))
