"""One controller :class:`~hybridrl.methods.base.Update` -> optimizer step(s), in four parts:

1. :func:`build_term_states`: sequences of every term and their global normaliser counts;
2. :func:`prepasses`: each term's pre-pass hook (``terms.prepare_term``: critic values and
   GAE, ...) and the KL reference's log-probs;
3. :func:`backward_terms` over all micro-batches, then :func:`clip_and_check` and the step,
   μ = ``num_iterations`` times over the same batch (the PPO denominator frozen at the first);
4. :func:`log_update`: global term losses and statistics into the step's record.

Several processes: the policy trains through DDP or FSDP2 (``distributed/parallel.py``); ranks may
hold different numbers of micro-batches (HPT's gate, zero-advantage skips), so the counts are
agreed per term and the missing ones run as zero-weight padding passes, with gradient sync on
the last backward only. Departures from the usual trainer: a non-finite loss or gradient skips the update (weights and
optimizer untouched) and ``max_nonfinite_steps`` in a row stop the run; when every
micro-batch was skipped for zero advantages, the policy still gets its (zero) gradient so
that AdamW's moments and weight decay act exactly as without the skip.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from dataclasses import dataclass
from typing import Any

import torch

from hybridrl.methods.base import Feedback, LossTerm, Update, Weighting
from hybridrl.training.update.minibatches import freeze_old_logprobs, merge_stats, split_states
from hybridrl.training.update.optimizer_states import named_state
from hybridrl.distributed.parallel import lockstep, padding_loss
from hybridrl.training.update.terms import (Counts, LossSettings, Sequences, TermParts, TermState, TermStats,
                                            UpdateModels, chunks, has_prepass, micro_batch_loss, prepare_term,
                                            reference_logprobs, runnable_micro_batches, seq_count)


class TrainingAborted(RuntimeError):
    """Raised when the run cannot continue (e.g. too many non-finite updates)."""


@dataclass
class Optimization:
    """What an update needs from the run, and its one piece of state (``nonfinite``)."""

    models: UpdateModels
    settings: LossSettings
    optimizer: torch.optim.Optimizer
    policy_params: list[torch.nn.Parameter]
    extra_params: list[torch.nn.Parameter]
    par: Any
    max_grad_norm: float
    num_iterations: int
    max_nonfinite_steps: int
    after_step: Callable[[], None] | None = None
    """Called after every optimizer step (the generator syncs its weights)."""
    mini_batches: int = 1
    """Optimizer steps per update, each on a share of the prompts (``training/update/minibatches.py``)."""
    nonfinite: int = 0
    """Consecutive updates skipped for a non-finite loss or gradient."""

    @property
    def all_params(self) -> list[torch.nn.Parameter]:
        return self.policy_params + self.extra_params


@dataclass
class UpdateResult:
    stats: dict[str, TermStats]
    """Per term name, the first iteration's statistics (this process)."""
    grad_norm: float
    """Policy gradient norm before clipping, of the last iteration run."""
    skipped: bool
    weights: dict[str, float] | None
    """Weights the logged loss was formed with (before the step moved them); None if skipped."""
    regularizer: float = 0.0


def build_term_states(terms: list[LossTerm], sequences_of: Callable[[LossTerm], Sequences], par: Any) -> list[TermState]:
    """States of the non-empty terms, with their normaliser counts summed over processes (a
    term may be empty on this rank and not on another) and over their ``norm_group``."""
    seqs = [sequences_of(t) if len(t.indices) else None for t in terms]
    local: list[float] = []
    for t, s in zip(terms, seqs):
        local += [float(s.mask.sum()), seq_count(t)] if s is not None else [0.0, 0.0]
    glob = par.sum(local)
    counts = [Counts(glob[2 * i], glob[2 * i + 1]) for i in range(len(terms))]
    groups: dict[str, Counts] = {}
    for t, c in zip(terms, counts):
        if t.norm_group is not None:
            g = groups.get(t.norm_group, Counts(0.0, 0.0))
            groups[t.norm_group] = Counts(g.tokens + c.tokens, g.seqs + c.seqs)
    return [TermState(t, s, groups[t.norm_group] if t.norm_group is not None else c, entropy_tokens=c.tokens)
            for t, s, c in zip(terms, seqs, counts) if s is not None]


def backward_terms(opt: Optimization, states: list[TermState], weighting: Weighting,
                   terms: list[LossTerm] | None = None) -> dict[str, TermStats]:
    """Zero the gradients, backpropagate every term and the regularizer, sum over processes.

    Under DDP / FSDP2 (``parallel.lockstep``) every rank runs, term by term in the order of
    ``terms`` (the update's, the same on every rank), as many micro-batches as the rank with the
    most; the missing ones are zero-weight padding passes, and only the last backward reduces
    the policy's gradients. The replicated extras (value head, loss weights) are summed once after.
    """
    opt.optimizer.zero_grad(set_to_none=True)
    stats: dict[str, TermStats] = {}
    models, s, par = opt.models, opt.settings, opt.par
    by_term = {id(ts.term): ts for ts in states}
    ordered = [by_term.get(id(t)) for t in terms] if terms is not None else list(states)
    groups: list[list[Callable[[], None]]] = []
    for ts in ordered:
        if ts is None:  # empty on this rank, maybe not on another
            groups.append([])
            continue
        st = stats.setdefault(ts.term.name, TermStats())
        parts = TermParts.of(ts, s, models)
        slices, skipped = runnable_micro_batches(ts, parts, s)
        st.skipped += skipped
        groups.append([partial(_micro_batch_backward, ts, sl, parts, models, weighting, s, st) for sl in slices])
    pad_id = getattr(getattr(models.policy, "config", None), "pad_token_id", None) or 0

    def pad(_group: int) -> None:
        padding_loss(models.policy, pad_id, par.device, s.autocast).backward()

    lockstep(par, groups, pad, sync_model=models.policy)
    reg = weighting.regularizer()
    if reg is not None and opt.par.main:
        reg.backward()
    if any(st.skipped for st in stats.values()):
        # no backward reached the policy when every micro-batch was skipped (zero advantages):
        # give it the zero gradient the zero loss would have, so AdamW acts as without the skip
        for p in opt.policy_params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
    par.reduce_replicated(opt.extra_params)
    return stats


def _micro_batch_backward(ts: TermState, sl: slice, parts: TermParts, models: UpdateModels, weighting: Weighting,
                          s: LossSettings, stats: TermStats) -> None:
    total, st = micro_batch_loss(ts, sl, parts, models, weighting, s)
    total.backward()
    stats.add(st)


def prepasses(opt: Optimization, states: list[TermState]) -> None:
    """The terms' forward-only pre-passes (critic values and GAE, batch entropy; the KL
    reference's log-probs), before any backward. Under FSDP2 they run on gathered weights (one
    all-gather per model, entered by every rank when any rank needs it), so ranks may run
    different numbers of them."""
    models, s, par = opt.models, opt.settings, opt.par

    def anywhere(local: bool) -> bool:
        return bool(par.agree(int(local))) if par.mode == "fsdp2" else local

    if anywhere(any(has_prepass(ts) for ts in states)):
        with par.gathered(models.policy) as policy:
            for ts in states:
                prepare_term(ts, models._replace(policy=policy), s, par)
    kl = [ts for ts in states if TermParts.of(ts, s, models).kl]
    if models.reference is not None and anywhere(bool(kl)):
        with par.gathered(models.reference) as ref:
            for ts in kl:
                for sl in chunks(len(ts.seqs), s.micro_batch_size):
                    ts.ref_logp.get(sl, lambda sl=sl: reference_logprobs(ref, ts.seqs.slice(sl), s))


def clip_and_check(opt: Optimization, stats: dict[str, TermStats]) -> tuple[float, bool]:
    """Clip the policy's gradient norm (returned, as SASR reads it); the value head and the
    learnable loss weights are only checked for finiteness. Returns (norm, all finite)."""
    limit = opt.max_grad_norm if opt.max_grad_norm > 0 else float("inf")
    grad_norm = opt.par.clip_grad_norm_(opt.policy_params, limit)  # over all shards (FSDP2)
    extra_finite = all(p.grad is None or bool(torch.isfinite(p.grad).all()) for p in opt.extra_params)
    losses_finite = all(math.isfinite(st.loss) for st in stats.values())
    return grad_norm, math.isfinite(grad_norm) and extra_finite and losses_finite


def _skip_nonfinite(opt: Optimization, grad_norm: float, stats: dict[str, TermStats]) -> None:
    opt.optimizer.zero_grad(set_to_none=True)
    opt.nonfinite += 1
    if opt.nonfinite >= opt.max_nonfinite_steps:
        losses = {n: st.loss for n, st in stats.items()}
        raise TrainingAborted(f"{opt.nonfinite} consecutive updates had a non-finite loss or gradient "
                              f"(grad_norm={grad_norm}, losses={losses})")


def weights_now(weighting: Weighting, names) -> dict[str, float]:
    return {n: float(torch.as_tensor(weighting.weight(n)).detach()) for n in names}


def optimize(opt: Optimization, states: list[TermState], weighting: Weighting,
             terms: list[LossTerm] | None = None) -> UpdateResult:
    """μ = ``num_iterations`` passes over the update's terms, one optimizer step each."""
    first: dict[str, TermStats] = {}
    grad_norm = 0.0
    result = None
    for it in range(opt.num_iterations):
        stats = backward_terms(opt, states, weighting, terms)
        if it == 0:
            first = stats
        grad_norm, finite = clip_and_check(opt, first)
        if not finite:
            _skip_nonfinite(opt, grad_norm, first)
            return UpdateResult(first, grad_norm, True, result.weights if result else None,
                                result.regularizer if result else 0.0)
        opt.nonfinite = 0
        if it == 0:  # the weights the logged loss was formed with (they move at the step)
            reg = weighting.regularizer()
            result = UpdateResult(first, grad_norm, False, weights_now(weighting, first),
                                  float(reg.detach()) if reg is not None else 0.0)
        opt.optimizer.step()
        if opt.after_step is not None:
            opt.after_step()
    result.grad_norm = grad_norm
    return result


def log_update(record: dict[str, Any], update: Update, res: UpdateResult, opt: Optimization,
               weighting: Weighting) -> dict[str, float]:
    """Add the update's global metrics to the step's ``record``; returns the global term losses.

    A step may hold several updates (SuperRL per_step): term losses are keyed by term name,
    ``loss`` adds up, ``grad_norm`` is the first update's and ``grad_norm/<kind>`` each one's.
    """
    par = opt.par
    names = sorted({t.name for t in update.terms} | set(res.stats))  # the same list on every rank
    tot = TermStats()
    for st in res.stats.values():
        tot.add(st)
    local = [res.stats[n].loss if n in res.stats else 0.0 for n in names]
    vals = par.sum(local + [tot.entropy_sum, tot.tokens, tot.kl])
    term_losses = dict(zip(names, vals[: len(names)]))
    for n, v in term_losses.items():
        record[f"{n}_loss"] = record.get(f"{n}_loss", 0.0) + v
    weights = res.weights if res.weights is not None else weights_now(weighting, term_losses)
    total = sum(weights.get(n, 1.0) * v for n, v in term_losses.items())
    record["loss"] = record.get("loss", 0.0) + total + res.regularizer
    if vals[-2] > 0 and record.get("entropy") is None:
        record["entropy"] = vals[-3] / vals[-2]
    record.setdefault("entropy", None)  # null: every micro-batch was skipped (zero advantages)
    if opt.settings.beta > 0:
        record["kl"] = record.get("kl", 0.0) + vals[-1]
    for n, st in res.stats.items():
        record.update(st.metrics(n))
    skipped, positions, real = par.sum([float(tot.skipped), tot.positions, tot.real_positions])
    record["update/skipped_microbatches"] = record.get("update/skipped_microbatches", 0.0) + skipped
    # the update's throughput: what the policy's forward/backward passes computed (all ranks, the μ passes
    # included: the statistics are the first pass's) and how much of it was padding
    passes = opt.num_iterations if not res.skipped else 1
    before = record.get("update/forward_tokens", 0.0)
    real_before = before * (1.0 - (record.get("update/padding_share") or 0.0))
    record["update/forward_tokens"] = before + passes * positions
    # null when no micro-batch ran (every one skipped for zero advantages), as ``entropy``
    record["update/padding_share"] = (1.0 - (real_before + passes * real) / record["update/forward_tokens"]
                                      if record["update/forward_tokens"] > 0 else None)
    if opt.models.value_head is not None:
        record["vf_loss"] = record.get("vf_loss", 0.0) + par.sum([tot.vf_loss])[0]
    record.setdefault("grad_norm", res.grad_norm)
    record[f"grad_norm/{update.kind}"] = res.grad_norm
    record["update_skipped"] = record.get("update_skipped", False) or res.skipped
    return term_losses


def optimize_mini_batches(opt: Optimization, states: list[TermState], weighting: Weighting, terms: list[LossTerm],
                          num_prompts: int) -> UpdateResult:
    """One optimizer step (μ passes) per mini-batch of prompts, every PPO ratio against the
    sampling-time policy. Logged: losses averaged over the steps, the mean gradient norm."""
    freeze_old_logprobs(states, opt.models, opt.settings, opt.par)
    results = []
    for sub_terms, sub_states in split_states(states, terms, opt.mini_batches, num_prompts, opt.par):
        results.append(optimize(opt, sub_states, weighting, sub_terms))
        if results[-1].skipped:
            break
    first = results[0]
    return UpdateResult(merge_stats([r.stats for r in results]), sum(r.grad_norm for r in results) / len(results),
                        any(r.skipped for r in results), first.weights,
                        sum(r.regularizer for r in results) / len(results))


def run_update(opt: Optimization, update: Update, weighting: Weighting,
               sequences_of: Callable[[LossTerm], Sequences], record: dict[str, Any],
               num_prompts: int = 0) -> Feedback:
    """Terms -> pre-passes -> μ optimizer steps (per mini-batch of the ``num_prompts`` prompts
    when ``opt.mini_batches`` > 1) -> metrics; returns the controller's feedback."""
    states = build_term_states(update.terms, sequences_of, opt.par)
    prepasses(opt, states)
    opt.models.policy.train()
    with named_state(opt.optimizer, update.optimizer_state):  # None = the shared state
        if opt.mini_batches > 1:
            res = optimize_mini_batches(opt, states, weighting, update.terms, num_prompts)
        else:
            res = optimize(opt, states, weighting, update.terms)
    term_losses = log_update(record, update, res, opt, weighting)
    return Feedback(kind=update.kind, grad_norm=res.grad_norm, term_losses=term_losses, skipped=res.skipped)
