"""Several optimizer steps per generated batch (config ``mini_batches``).

TRL calls it ``steps_per_generation``, verl ``ppo_mini_batch_size`` (the official HPT runs:
128 prompts, mini-batches of 64, two optimizer steps per batch). An update's terms are split
by whole prompts (a group never straddles two mini-batches, so group statistics stay those
the controller computed over the whole batch) into ``mini_batches`` contiguous chunks of this
process's prompts; each chunk is one optimizer step (μ = ``num_iterations`` passes over it),
normalised by its own counts (summed over processes and ``norm_group``).

The PPO ratio of every mini-batch is taken against the policy that sampled: the log-probs of
all sequences are computed before the first step (as verl's ``compute_log_prob``) and frozen,
so the second mini-batch's ratio sees the first step's change and its clip acts on it. Pre-pass
results (GAE, whitened over the whole batch) are the whole batch's, sliced.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch

from hybridrl.methods.base import LossTerm
from hybridrl.training.update import terms as term_passes  # module access: tests replace its forward
from hybridrl.training.update.terms import Counts, TermState, TermStats, chunks, seq_count


def prompt_chunks(num_prompts: int, num: int) -> list[tuple[int, int]]:
    """[lo, hi) prompt ranges of ``num`` contiguous, near-equal chunks (some may be empty)."""
    if num < 1:
        raise ValueError(f"mini_batches must be >= 1, got {num}")
    return [(j * num_prompts // num, (j + 1) * num_prompts // num) for j in range(num)]


def split_states(states: list[TermState], terms: list[LossTerm], num: int, num_prompts: int,
                 par: Any) -> list[tuple[list[LossTerm], list[TermState]]]:
    """(terms, states) of each mini-batch. ``terms`` is the update's list (the same order on
    every rank); a term with no sequence in a chunk is listed with empty indices and has no
    state. Counts are summed over processes in one all-reduce, then over norm groups."""
    by_term = {id(ts.term): ts for ts in states}
    picks: list[list[torch.Tensor | None]] = []
    local: list[float] = []
    for lo, hi in prompt_chunks(num_prompts, num):
        row = []
        for t in terms:
            ts = by_term.get(id(t))
            pi = None if ts is None else ts.seqs.prompt_index.cpu()
            keep = None if pi is None else ((pi >= lo) & (pi < hi)).nonzero()[:, 0]
            row.append(keep)
            local += [float(ts.seqs.mask[keep].sum()), seq_count(ts.term, keep)] if keep is not None else [0.0, 0.0]
        picks.append(row)
    glob = iter(par.sum(local))
    out = []
    for row in picks:
        counts = [Counts(next(glob), next(glob)) for _ in terms]
        groups: dict[str, Counts] = {}
        for t, c in zip(terms, counts):
            if t.norm_group is not None:
                g = groups.get(t.norm_group, Counts(0.0, 0.0))
                groups[t.norm_group] = Counts(g.tokens + c.tokens, g.seqs + c.seqs)
        sub_terms, sub_states = [], []
        for t, keep, c in zip(terms, row, counts):
            norm = groups[t.norm_group] if t.norm_group is not None else c
            if keep is None or len(keep) == 0:
                sub_terms.append(replace(t, indices=t.indices[:0]))
                continue
            sub = by_term[id(t)].select(keep, norm, entropy_tokens=c.tokens)
            sub_terms.append(sub.term)
            sub_states.append(sub)
        out.append((sub_terms, sub_states))
    return out


@torch.no_grad()
def freeze_old_logprobs(states: list[TermState], models: Any, s: Any, par: Any) -> None:
    """Fill every term's PPO denominator with the current (sampling-time) policy before the
    first step: the sampler's log-probs with ``old_logprobs=sampling``, else a forward pass."""
    with par.gathered(models.policy) as policy:
        for ts in states:
            for sl in chunks(len(ts.seqs), s.micro_batch_size):
                mb = ts.seqs.slice(sl)
                if s.old_logprobs == "sampling" and ts.on_policy and mb.sampling_logprobs is not None:
                    ts.old_logp.get(sl, lambda mb=mb: mb.sampling_logprobs.float())
                else:
                    ts.old_logp.get(sl, lambda mb=mb: term_passes.forward(policy, mb, s)["logprobs"].float())


def merge_stats(parts: list[dict[str, TermStats]]) -> dict[str, TermStats]:
    """Per term, the statistics of all mini-batches: counts and sums add up; the losses (each
    normalised by its own mini-batch) are averaged over the ``len(parts)`` optimizer steps."""
    out: dict[str, TermStats] = {}
    for stats in parts:
        for name, st in stats.items():
            out.setdefault(name, TermStats()).add(st)
    for st in out.values():
        st.loss, st.kl, st.vf_loss = (v / len(parts) for v in (st.loss, st.kl, st.vf_loss))
    return out
