"""Unit tests of the update pieces (training/update/terms.py, training/update/optimize.py) on a scripted policy.

The "policy" is a table of log-probabilities: one Parameter ``lp`` (K, T) whose row k is the
log π of sequence k's tokens, so every loss and gradient below is a number computed by hand.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace

import pytest
import torch

import hybridrl.training.update.terms as U
from hybridrl.methods.base import ConstantWeights, Controller, LossTerm, Update
from hybridrl.config import TrainConfig
from hybridrl.distributed.parallel import Parallel
from hybridrl.training.update.optimize import Optimization, TrainingAborted, build_term_states, optimize, run_update


class TablePolicy(torch.nn.Module):
    """log π of sequence k, token t = lp[k, t]; entropy = ent[k, t] (constant)."""

    def __init__(self, lp, ent=None):
        super().__init__()
        self.lp = torch.nn.Parameter(torch.tensor(lp, dtype=torch.float32))
        self.ent = torch.zeros_like(self.lp) if ent is None else torch.tensor(ent)

    def __call__(self, mb: U.Sequences, **kw):
        rows = mb.prompt_index  # sequence k continues "prompt" k: its row in the table
        ent = -self.lp[rows] if self.toy_entropy else self.ent[rows]
        return {"logprobs": self.lp[rows] * mb.mask, "entropy": ent * mb.mask}

    toy_entropy = False
    """True: entropy_t = -lp_t, a stand-in with a gradient (d H_t / d lp_t = -1)."""


REAL_FORWARD = U.forward  # before the fixture below replaces it


@pytest.fixture(autouse=True)
def table_forward(monkeypatch):
    monkeypatch.setattr(U, "forward", lambda model, mb, s, **kw: model(mb, **kw))


def settings(**kw) -> U.LossSettings:
    cfg = replace(TrainConfig(), micro_batch_size=kw.pop("micro_batch_size", 8), max_new_tokens=4, **kw)
    return U.LossSettings.from_config(cfg, contextlib.nullcontext)


def seqs(mask) -> U.Sequences:
    m = torch.tensor(mask, dtype=torch.float32)
    k = m.shape[0]
    return U.Sequences([[1]] * k, torch.arange(k), torch.ones_like(m, dtype=torch.long), m, None, torch.zeros(k))


def OneProcess() -> Parallel:
    return Parallel(mode="none")


MASK = [[1, 1, 0], [1, 0, 0], [1, 1, 1]]
LP = [[-1.0, -2.0, 0.0], [-3.0, 0.0, 0.0], [-0.5, -0.5, -1.0]]


def sft_term(rows, name="sft", group=None) -> LossTerm:
    return LossTerm(name, "sft", "demo", torch.tensor(rows), norm_group=group)


def state(term, mask=MASK, norm=None) -> U.TermState:
    s = seqs(mask)
    sub = s.slice(term.indices)
    local = float(sub.mask.sum()), float(len(sub))
    return U.TermState(term, sub, U.Counts(*(norm or local)))


def term_backward(ts, models, weighting, s, scale: float = 1.0) -> U.TermStats:
    """Forward/backward every runnable micro-batch of one term (what ``optimize.backward_terms``
    does per term on one process, without zeroing the gradients): the tests' direct handle."""
    parts = U.TermParts.of(ts, s, models)
    slices, skipped = U.runnable_micro_batches(ts, parts, s)
    stats = U.TermStats(skipped=skipped)
    for sl in slices:
        total, st = U.micro_batch_loss(ts, sl, parts, models, weighting, s)
        (total * scale).backward()
        stats.add(st)
    return stats


def grad_of(policy, ts_list, weighting=None, s=None):
    policy.lp.grad = None
    models = U.UpdateModels(policy, None, None)
    stats = [term_backward(ts, models, weighting or ConstantWeights(), s or settings()) for ts in ts_list]
    return policy.lp.grad.clone(), stats


def test_loss_settings_come_from_the_config_by_name():
    cfg = replace(TrainConfig(), eps_low=0.3, entropy_coef=0.01, max_new_tokens=7, micro_batch_size=2)
    s = U.LossSettings.from_config(cfg, contextlib.nullcontext)
    assert (s.eps_low, s.entropy_coef, s.micro_batch_size, s.max_len) == (0.3, 0.01, 2, 7)
    shared = {f for f in U.LossSettings.__dataclass_fields__} - {"max_len", "autocast"}
    assert all(getattr(s, f) == getattr(cfg, f) for f in shared)


@pytest.mark.parametrize("mb", [1, 2, 8])
def test_sft_term_is_the_token_mean_nll_whatever_the_micro_batches(mb):
    # rows 0 and 1 of MASK: 3 real tokens, log π = -1, -2, -3 -> loss = (1 + 2 + 3) / 3 = 2
    # d loss / d lp = -1/3 on each real token, 0 elsewhere
    pol = TablePolicy(LP)
    g, [st] = grad_of(pol, [state(sft_term([0, 1]))], s=settings(micro_batch_size=mb))
    assert st.loss == pytest.approx(2.0) and st.tokens == 3.0 and st.skipped == 0
    want = torch.tensor([[-1 / 3, -1 / 3, 0], [-1 / 3, 0, 0], [0, 0, 0]])
    torch.testing.assert_close(g, want)


def test_weight_scales_the_term():
    # ConstantWeights({"sft": 0.5}): gradient 0.5 · (-1/3) = -1/6 per token; logged loss stays 2
    pol = TablePolicy(LP)
    g, [st] = grad_of(pol, [state(sft_term([0, 1]))], weighting=ConstantWeights({"sft": 0.5}))
    assert st.loss == pytest.approx(2.0)
    assert g[0, 0].item() == pytest.approx(-1 / 6) and g[1, 0].item() == pytest.approx(-1 / 6)


def test_a_norm_group_reduces_two_terms_as_one():
    # one term over rows {0, 1, 2}: 6 tokens, grad -1/6 each. Split into term a = {0} and
    # term b = {1, 2} in one group: both divide by 3 + 3 = 6 tokens -> the same gradient.
    # Without the group, a divides by 2 and b by 4: -1/2 and -1/4.
    pol = TablePolicy(LP)
    whole, _ = grad_of(pol, [state(sft_term([0, 1, 2]))])
    states = build_term_states([sft_term([0], "a", "g"), sft_term([1, 2], "b", "g")],
                               lambda t: seqs(MASK).slice(t.indices), OneProcess())
    assert [ts.norm for ts in states] == [(6.0, 3.0), (6.0, 3.0)] and states[0].local == (2.0, 1.0)
    split, _ = grad_of(pol, states)
    torch.testing.assert_close(split, whole)
    assert whole[0, 0].item() == pytest.approx(-1 / 6)
    alone = build_term_states([sft_term([0], "a"), sft_term([1, 2], "b")],
                              lambda t: seqs(MASK).slice(t.indices), OneProcess())
    sep, _ = grad_of(pol, alone)
    assert sep[0, 0].item() == pytest.approx(-1 / 2) and sep[1, 0].item() == pytest.approx(-1 / 4)


def test_empty_terms_get_no_state_but_keep_their_place_in_the_counts():
    calls = []

    class Recorder(Parallel):
        def sum(self, v):
            calls.append(list(v))
            return v

    states = build_term_states([sft_term([], "e"), sft_term([2], "x")],
                               lambda t: seqs(MASK).slice(t.indices), Recorder(mode="none"))
    assert [ts.term.name for ts in states] == ["x"]
    assert calls == [[0.0, 0.0, 3.0, 1.0]]  # one all-reduce: (tokens, seqs) of each term in order


def test_zero_advantage_micro_batches_are_skipped_only_when_nothing_else_has_a_gradient():
    # GRPO term, advantages [0, 0, 1] with one sequence per micro-batch: the first two skipped
    term = LossTerm("pg", "grpo", "rollout", torch.tensor([0, 1, 2]), advantages=torch.tensor([0.0, 0.0, 1.0]))
    pol = TablePolicy(LP)
    g, [st] = grad_of(pol, [state(term)], s=settings(micro_batch_size=1))
    assert st.skipped == 2 and st.tokens == 3.0
    # token mean over 6 tokens, ratio 1 (denominator = π at this first pass): d/d lp = -A r / 6
    torch.testing.assert_close(g[2], torch.full((3,), -1 / 6))
    assert float(g[:2].abs().sum()) == 0.0
    # an entropy bonus has a gradient of its own: nothing is skipped
    ts = state(term)
    parts = U.TermParts.of(ts, settings(entropy_coef=0.1), U.UpdateModels(pol, None, None))
    assert parts.entropy and not U.zero_advantage_means_zero_gradient(ts, parts)


def test_frozen_logprobs_keep_their_first_value():
    f = U.FrozenLogprobs(3)
    first = f.get(slice(0, 2), lambda: torch.tensor([[1.0], [2.0]]))
    again = f.get(slice(0, 2), lambda: torch.tensor([[9.0], [9.0]]))
    assert first.tolist() == again.tolist() == [[1.0], [2.0]]
    assert f.get(slice(2, 3), lambda: torch.tensor([[3.0]])).tolist() == [[3.0]]
    assert f.known.tolist() == [True, True, True]


def _opt(pol, **kw) -> Optimization:
    s = settings(**{k: kw.pop(k) for k in list(kw) if k in ("micro_batch_size", "entropy_coef")})
    return Optimization(models=U.UpdateModels(pol, None, None), settings=s,
                        optimizer=torch.optim.SGD([pol.lp], lr=1.0), policy_params=[pol.lp], extra_params=[],
                        par=OneProcess(), max_grad_norm=0.0, num_iterations=kw.pop("mu", 1),
                        max_nonfinite_steps=kw.pop("max_nonfinite", 3), **kw)


def test_ppo_denominator_is_frozen_over_mu_iterations():
    # μ = 2, SGD lr 1, one token: log π = -1, A = 1, ε = 0.2, token mean over 1 token.
    # it 0: r = 1, grad -A r = -1 -> lp = -1 + 1 = 0.
    # it 1: r = exp(0 - (-1)) = e > 1.2 -> clipped, no gradient: lp stays 0.
    # Had the denominator been refreshed, r = 1 and lp would move again, to 1.
    pol = TablePolicy([[-1.0]])
    term = LossTerm("pg", "grpo", "rollout", torch.tensor([0]), advantages=torch.tensor([1.0]))
    steps = []
    opt = _opt(pol, mu=2, after_step=lambda: steps.append(float(pol.lp.detach())))
    res = optimize(opt, [state(term, mask=[[1]])], ConstantWeights())
    assert steps == [pytest.approx(0.0), pytest.approx(0.0)]
    assert res.grad_norm == 0.0 and res.stats["pg"].loss == pytest.approx(-1.0) and not res.skipped


def test_nonfinite_updates_are_skipped_then_abort():
    pol = TablePolicy([[float("nan")]])
    opt = _opt(pol, max_nonfinite=2)
    ts = [state(sft_term([0]), mask=[[1]])]
    res = optimize(opt, ts, ConstantWeights())
    assert res.skipped and opt.nonfinite == 1 and pol.lp.grad is None  # gradients dropped, no step
    with pytest.raises(TrainingAborted, match="2 consecutive updates"):
        optimize(opt, ts, ConstantWeights())


def test_run_update_logs_the_weighted_loss_and_feedback():
    # terms pg (weight 2) and sft (weight 1): sft loss 2 (rows 0, 1 as above);
    # pg on row 2, A = 1, ratio 1: loss = -A r = -1 -> logged loss = 2·(-1) + 1·2 = 0
    pol = TablePolicy(LP)
    pg = LossTerm("pg", "grpo", "rollout", torch.tensor([2]), advantages=torch.tensor([1.0]))
    upd = Update([pg, sft_term([0, 1])], kind="hybrid", weighting=ConstantWeights({"pg": 2.0}))
    rec: dict = {}
    fb = run_update(_opt(pol), upd, upd.weighting, lambda t: seqs(MASK).slice(t.indices), rec)
    assert fb.term_losses == {"pg": pytest.approx(-1.0), "sft": pytest.approx(2.0)}
    assert rec["loss"] == pytest.approx(0.0) and rec["grad_norm/hybrid"] == fb.grad_norm > 0
    assert rec["update/skipped_microbatches"] == 0.0 and rec["update_skipped"] is False
    # #28 item 4: forward positions [prompt | completion cut after its last real column]: sft rows
    # 0, 1 (one micro-batch): 2 × (1 + 2) = 6 positions, 2 + 3 real; pg row 2: 1 × (1 + 3), all real
    assert rec["update/forward_tokens"] == 10.0 and rec["update/padding_share"] == pytest.approx(0.1)


def test_forward_positions_count_prompt_and_completion_padding():
    mb = U.Sequences([[1, 2, 3], [4]], torch.tensor([0, 1, 1]), torch.ones(3, 5, dtype=torch.long),
                     torch.tensor([[1, 1, 0, 0, 0], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0.]]), None, None)
    # longest prompt 3, last real completion column 2: 3 × (3 + 3) positions; real 3 + 1 + 1 + 6
    assert U.forward_positions(mb) == (18.0, 11.0)


def test_the_loop_uses_the_weighting_the_update_carries():
    upd = Update([sft_term([0])])
    assert Controller(None).weighting_of(upd) is upd.weighting
    assert upd.weighting.weight("sft") == 1.0 and upd.weighting.regularizer() is None  # the default
    own = Update([sft_term([0])], weighting=ConstantWeights({"sft": 3.0}))
    assert Controller(None).weighting_of(own).weight("sft") == 3.0 and own.weighting.weight("pg") == 1.0


def test_the_weight_multiplies_the_kl_penalty_and_entropy_bonus_too():
    # #12 item 1: total = w · (L + β·KL − c·H). GRPO term on row 2 (3 tokens, log π = -0.5, -0.5, -1),
    # A = 1, ratio 1, token mean over N = 3:   dL/dlp_t = -A/N = -1/3
    # KL k1 = lp - ref, β = 0.5:               d(β·KL)/dlp_t = 0.5 · 1/3 = 1/6
    # toy entropy H_t = -lp_t, c = 0.3:         d(-c·H)/dlp_t = -0.3 · (-1/3) = 0.1
    # w = 2: grad_t = 2 · (-1/3 + 1/6 + 0.1) = 2 · (-1/15) = -2/15 ≈ -0.1333
    # (a weight on L alone would give 2·(-1/3) + 1/6 + 0.1 = -0.4)
    pol, ref = TablePolicy(LP), TablePolicy([[0.0] * 3] * 3)
    pol.toy_entropy = True
    term = LossTerm("pg", "grpo", "rollout", torch.tensor([2]), advantages=torch.tensor([1.0]))
    ts = state(term)
    pol.lp.grad = None
    st = term_backward(ts, U.UpdateModels(pol, ref, None), ConstantWeights({"pg": 2.0}),
                         settings(beta=0.5, kl_estimator="k1", entropy_coef=0.3))
    torch.testing.assert_close(pol.lp.grad[2], torch.full((3,), -2 / 15))
    # the logged KL is the aggregated penalty before β and w: mean(lp - 0) = (-0.5 - 0.5 - 1) / 3
    assert st.kl == pytest.approx(-2 / 3) and st.loss == pytest.approx(-1.0)


def test_the_entropy_bonus_is_a_token_mean_whatever_the_term_mode():
    # Dr. GRPO term (Σ / max_len / #seqs, max_len = 4) on rows 0 and 2 (2 + 3 = 5 tokens), A = 0
    # (no PG gradient), toy entropy H_t = −lp_t, c = 0.3. The bonus is −c · Σ H_t / 5 (a token
    # mean over the term's 5 tokens, as the official actors' masked_mean): d/dlp_t = −0.3 · (−1/5)
    # = 0.06 at every real token. (Reduced like the PG term it would be Σ/4/2: 0.3/8 = 0.0375.)
    pol = TablePolicy(LP)
    pol.toy_entropy = True
    term = LossTerm("pg", "dr_grpo", "rollout", torch.tensor([0, 2]), advantages=torch.zeros(2))
    ts = U.TermState(term, seqs(MASK).slice(term.indices), U.Counts(5.0, 2.0))
    pol.lp.grad = None
    term_backward(ts, U.UpdateModels(pol, None, None), ConstantWeights(), settings(entropy_coef=0.3))
    torch.testing.assert_close(pol.lp.grad[0], torch.tensor([0.06, 0.06, 0.0]))
    torch.testing.assert_close(pol.lp.grad[2], torch.full((3,), 0.06))
    # in a norm group the PG counts are the group's; the bonus still divides by the term's own
    # tokens: group of 9 tokens, own 5 -> still 0.06 (group counts would give 0.3/9 = 0.0333)
    ts = U.TermState(term, seqs(MASK).slice(term.indices), U.Counts(9.0, 4.0), entropy_tokens=5.0)
    pol.lp.grad = None
    term_backward(ts, U.UpdateModels(pol, None, None), ConstantWeights(), settings(entropy_coef=0.3))
    torch.testing.assert_close(pol.lp.grad[2], torch.full((3,), 0.06))


class SharedPolicy(TablePolicy):
    """Every token of every sequence has log π = θ (one Parameter): a step on one prompt moves
    the ratio of all others, so a frozen denominator is visible."""

    def __init__(self, theta: float, shape):
        super().__init__([[0.0] * shape[1]] * shape[0])
        self.lp = torch.nn.Parameter(torch.tensor(theta))

    def __call__(self, mb: U.Sequences, **kw):
        return {"logprobs": self.lp * mb.mask, "entropy": torch.zeros_like(mb.mask)}


def test_two_mini_batches_are_two_sequential_steps_against_the_sampling_policy():
    # prompts 0 and 1, one 1-token rollout each, A = 1; SGD lr 0.1; θ0 = -1; mini_batches = 2.
    # step 1 (prompt 0): r = 1, dL/dθ = -A r = -1                    -> θ1 = -1 + 0.1 = -0.9
    # step 2 (prompt 1): r = exp(θ1 - θ0) = e^0.1 = 1.10517 (< 1.2, unclipped), against the
    #   SAMPLING policy θ0: dL/dθ = -1.10517                         -> θ2 = -0.9 + 0.110517 = -0.789483
    # (a denominator refreshed to θ1 would give r = 1 and θ2 = -0.8; one step over both: θ = -0.9)
    pol = SharedPolicy(-1.0, (2, 1))
    opt = _opt(pol)
    opt.optimizer = torch.optim.SGD([pol.lp], lr=0.1)
    opt.policy_params, opt.mini_batches = [pol.lp], 2
    seen = []
    opt.after_step = lambda: seen.append(float(pol.lp.detach()))
    term = LossTerm("pg", "grpo", "rollout", torch.tensor([0, 1]), advantages=torch.tensor([1.0, 1.0]))
    rec: dict = {}
    fb = run_update(opt, Update([term]), ConstantWeights(), lambda t: seqs([[1], [1]]).slice(t.indices), rec,
                    num_prompts=2)
    assert seen == [pytest.approx(-0.9), pytest.approx(-0.789483, abs=1e-6)]
    # logged: the mean over the two steps of each step's loss (-1 and -1.10517) and grad norm
    assert fb.term_losses["pg"] == pytest.approx(-(1 + 1.1051709) / 2)
    assert fb.grad_norm == pytest.approx((1 + 1.1051709) / 2)


def test_mini_batches_split_whole_prompts_and_count_each_alone():
    # 3 prompts -> chunks [0, 1) and [1, 3); sequences 0, 1 continue prompt 0, sequence 2
    # prompt 1, sequence 3 prompt 2. Tokens (MASK rows + a 1-token row): 2 + 1 | 3 + 1.
    from hybridrl.training.update.minibatches import prompt_chunks, split_states

    assert prompt_chunks(3, 2) == [(0, 1), (1, 3)] and prompt_chunks(1, 2) == [(0, 0), (0, 1)]
    s = seqs(MASK + [[1, 0, 0]])
    s.prompt_index = torch.tensor([0, 0, 1, 2])
    term = LossTerm("pg", "grpo", "rollout", torch.arange(4), advantages=torch.tensor([1.0, 2.0, 3.0, 4.0]))
    ts = U.TermState(term, s, U.Counts(7.0, 4.0))
    (t1, [a]), (t2, [b]) = split_states([ts], [term], 2, 3, OneProcess())
    assert a.term.advantages.tolist() == [1.0, 2.0] and a.norm == (3.0, 2.0)
    assert b.term.advantages.tolist() == [3.0, 4.0] and b.norm == (4.0, 2.0)
    assert t1[0] is a.term and t2[0] is b.term


@pytest.mark.parametrize("method, rl_preset, critic", [("ppo", "grpo", True), ("superrl", "ppo", True),
                                                        ("superrl", "grpo", False), ("grpo", "ppo", False)])
def test_a_value_head_exists_whenever_a_term_may_use_gae(method, rl_preset, critic):
    # #12 item 1: superrl rl_preset=ppo (SuperRL Tables 3-4) used to crash at step 1 without a critic;
    # grpo's own preset is fixed, so its rl_preset does not ask for one
    from hybridrl.methods.registry import build_controller
    from hybridrl.training.loop.setup import needs_value_head

    cfg = replace(TrainConfig(), method=method, rl_preset=rl_preset)
    assert needs_value_head(cfg, build_controller(cfg)) is critic


def test_micro_batches_reach_the_model_on_its_device(monkeypatch):
    # CUDA training: the sequences are built on the CPU (the controller's and the sampler's
    # tensors); forward() must hand them to sequence_logprobs on the model's device. A model on
    # the `meta` device stands in for the GPU on a CPU-only machine.
    seen = {}

    def fake_logprobs(model, prompt_ids, prompt_index, completion_ids, mask, **kw):
        seen.update(ids=completion_ids.device, mask=mask.device, index=prompt_index.device)
        return {"logprobs": torch.zeros_like(mask)}

    monkeypatch.setattr(U, "sequence_logprobs", fake_logprobs)
    model = torch.nn.Linear(1, 1, device="meta")
    assert U.model_device(model).type == "meta"
    out = REAL_FORWARD(model, seqs(MASK), settings())
    assert {d.type for d in seen.values()} == {"meta"} and out["logprobs"].device.type == "meta"
    moved = seqs(MASK).to(torch.device("meta"))
    assert moved.mask.device.type == moved.rewards.device.type == moved.prompt_index.device.type == "meta"


# --- the sequence builders, the pre-pass hooks and the mini-batch view, unit by unit ------

def test_rollout_sequences_select_the_term_samples():
    from hybridrl.rollout.types import RolloutBatch

    rb = RolloutBatch(prompt_ids=[[7], [8, 9]], prompt_index=torch.tensor([0, 0, 1]),
                      completion_ids=torch.tensor([[1, 2], [3, 0], [4, 5]]),
                      completion_mask=torch.tensor([[1, 1], [1, 0], [1, 1]], dtype=torch.long),
                      logprobs=torch.tensor([[-1.0, -2.0], [-3.0, 0.0], [-4.0, -5.0]]),
                      texts=["a", "b", "c"], finish_reasons=["stop"] * 3)
    s = U.rollout_sequences(rb, torch.tensor([1, 0, 1]), torch.tensor([2, 0]))
    assert s.prompt_ids == [[7], [8, 9]] and s.prompt_index.tolist() == [1, 0]
    assert s.completion_ids.tolist() == [[4, 5], [1, 2]]
    assert s.mask.dtype == torch.float32 and s.mask.tolist() == [[1.0, 1.0], [1.0, 1.0]]
    assert s.sampling_logprobs.tolist() == [[-4.0, -5.0], [-1.0, -2.0]]
    assert s.rewards.dtype == torch.float32 and s.rewards.tolist() == [1.0, 1.0]
    rb.has_logprobs = False  # generated without log-probs: the first pass computes π_θold
    assert U.rollout_sequences(rb, torch.tensor([1, 0, 1]), torch.tensor([1])).sampling_logprobs is None


def test_demo_sequences_pad_each_row_demonstration():
    prompts, demos = [[1], [2], [3]], [[10, 11, 12], [], [13]]
    idx = torch.tensor([2, 0])
    s = U.demo_sequences(prompts, demos, idx)
    # rows 2 and 0: demonstrations [13] and [10, 11, 12], right-padded to T = 3
    assert s.prompt_ids is prompts and s.prompt_index.tolist() == [2, 0]
    assert s.completion_ids.dtype == torch.long and s.completion_ids.tolist() == [[13, 0, 0], [10, 11, 12]]
    assert s.mask.tolist() == [[1.0, 0.0, 0.0], [1.0, 1.0, 1.0]]
    assert s.sampling_logprobs is None and s.rewards.tolist() == [1.0, 1.0]  # a demonstration is correct
    idx[0] = 1  # the sequences keep their own copy of the row indices
    assert s.prompt_index.tolist() == [2, 0]
    empty = U.demo_sequences(prompts, demos, torch.tensor([], dtype=torch.long))
    assert tuple(empty.completion_ids.shape) == (0, 1) and len(empty) == 0  # T defaults to 1
    one = U.demo_sequences(prompts, demos, torch.tensor([1]))  # an empty demonstration: T = 0
    assert tuple(one.completion_ids.shape) == (1, 0) and one.mask.sum().item() == 0.0


class ValuePolicy(torch.nn.Module):
    """hidden[k, t] = v[k, t] (1 feature); with an identity value head V(s_t) = v[k, t]."""

    def __init__(self, v):
        super().__init__()
        self.v = torch.nn.Parameter(torch.tensor(v))

    def __call__(self, mb: U.Sequences, **kw):
        assert kw.get("return_hidden")
        return {"hidden": self.v[mb.prompt_index].detach()[..., None]}


def test_prepare_term_runs_the_critic_prepass_of_gae_presets():
    s = settings(micro_batch_size=1, gae_lambda=0.95)  # γ = 1 (default), λ = 0.95 (given)
    sq = seqs([[1, 1, 0], [1, 0, 0]])
    sq.rewards = torch.tensor([1.0, 0.0])
    ppo = U.TermState(LossTerm("pg", "ppo", "rollout", torch.arange(2)), sq, U.Counts(3.0, 2.0))
    grpo = U.TermState(LossTerm("pg", "grpo", "rollout", torch.arange(2), advantages=torch.zeros(2)), sq,
                       U.Counts(3.0, 2.0))
    assert U.has_prepass(ppo) and not U.has_prepass(grpo)
    models = U.UpdateModels(ValuePolicy([[0.5, 0.25, 9.0], [0.2, 9.0, 9.0]]), None, torch.nn.Identity())
    U.prepare_term(grpo, models, s, OneProcess())
    assert grpo.gae is None  # nothing to do for a group estimator
    U.prepare_term(ppo, models, s, OneProcess())
    # values at real tokens: [0.5, 0.25 | 0.2] (9 = padding, masked to 0); reward on the LAST real token
    # seq 0: t=1: δ = 1 + 0 - 0.25 = 0.75 = A_1; t=0: δ = 0 + 0.25 - 0.5 = -0.25, A_0 = -0.25 + 0.95·0.75 = 0.4625
    # seq 1: t=0: δ = 0 - 0.2 = -0.2 = A_0. Returns = A + V: [0.9625, 1.0 | 0.0]
    g = ppo.gae
    assert torch.allclose(g.old_values, torch.tensor([[0.5, 0.25, 0.0], [0.2, 0.0, 0.0]]))
    assert g.returns.tolist()[0][:2] == pytest.approx([0.9625, 1.0]) and g.returns[1, 0].item() == pytest.approx(0.0)
    # whitened over the 3 real tokens: mean = (0.4625 + 0.75 - 0.2) / 3 = 0.3375,
    # unbiased std = sqrt((0.125² + 0.4125² + 0.5375²) / 2) = sqrt(0.23734375) = 0.4871794
    # -> 0.125 / 0.4871794 = 0.256579, 0.4125 / 0.4871794 = 0.846711, -0.5375 / 0.4871794 = -1.103290
    assert torch.allclose(g.advantages, torch.tensor([[0.256579, 0.846711, 0.0], [-1.103290, 0.0, 0.0]]), atol=1e-5)
    # a single real token: std is taken as 1 -> (a - a) / 1 = 0
    one = U.TermState(LossTerm("pg", "ppo", "rollout", torch.arange(1)), seqs([[1, 0, 0]]), U.Counts(1.0, 1.0))
    U.prepare_term(one, models, s, OneProcess())
    assert one.gae.advantages.abs().sum().item() == 0.0
    with pytest.raises(RuntimeError, match=r"^term 'pg' \(preset 'ppo'\) needs a value head$"):
        U.prepare_term(ppo, models._replace(value_head=None), s, OneProcess())


def test_reference_logprobs_carry_no_gradient(monkeypatch):
    p = TablePolicy(LP)
    out = U.reference_logprobs(p, seqs(MASK), settings())
    assert out.tolist() == [[-1.0, -2.0, 0.0], [-3.0, 0.0, 0.0], [-0.5, -0.5, -1.0]] and not out.requires_grad
    # through the real forward: the reference scores with the run's temperature, like the policy
    seen = {}

    def fake_logprobs(model, prompt_ids, prompt_index, completion_ids, mask, **kw):
        seen.update(kw)
        return {"logprobs": torch.zeros_like(mask)}

    monkeypatch.setattr(U, "forward", REAL_FORWARD)
    monkeypatch.setattr(U, "sequence_logprobs", fake_logprobs)
    U.reference_logprobs(p, seqs(MASK), settings(temperature=0.7))
    assert seen == {"temperature": 0.7}


def test_select_is_the_term_restricted_to_its_rows():
    term = LossTerm("pg", "ppo", "rollout", torch.tensor([5, 6, 7]), advantages=torch.tensor([1.0, 2.0, 3.0]),
                    seq_weights=torch.tensor([0.1, 0.2, 0.3]))
    ts = U.TermState(term, seqs(MASK), U.Counts(6.0, 3.0))
    a = torch.arange(9.0).reshape(3, 3)
    ts.gae = U.GAETargets(a, a + 10, a + 20)
    ts.old_logp.get(slice(0, 3), lambda: a - 1)
    sub = ts.select(torch.tensor([0, 2]), U.Counts(5.0, 2.0))
    assert sub.term.indices.tolist() == [5, 7] and sub.term.advantages.tolist() == [1.0, 3.0]
    assert torch.allclose(sub.term.seq_weights, torch.tensor([0.1, 0.3])) and sub.norm == (5.0, 2.0)
    assert sub.seqs.mask.tolist() == [[1, 1, 0], [1, 1, 1]] and sub.local == (5.0, 2.0)
    assert sub.gae.advantages.tolist() == [[0, 1, 2], [6, 7, 8]]
    assert sub.gae.returns.tolist() == [[10, 11, 12], [16, 17, 18]]
    assert sub.gae.old_values.tolist() == [[20, 21, 22], [26, 27, 28]]
    assert sub.old_logp.values.tolist() == [[-1, 0, 1], [5, 6, 7]] and bool(sub.old_logp.known.all())
    assert sub.advantages(slice(0, 2)).tolist() == [[0, 1, 2], [6, 7, 8]]  # the critic's, when there is one
    # without GAE and seq weights
    plain = U.TermState(LossTerm("pg", "grpo", "rollout", torch.tensor([5, 6, 7]), advantages=torch.tensor([1.0, 2.0, 3.0])),
                        seqs(MASK), U.Counts(6.0, 3.0)).select(torch.tensor([1]), U.Counts(1.0, 1.0))
    assert plain.gae is None and plain.term.seq_weights is None and plain.advantages(slice(0, 1)).tolist() == [2.0]


def test_term_metrics_are_token_share_averages():
    st = U.TermStats(tokens=4.0, metric_sums={"clipfrac": 1.0}, metric_max={"diff_max": 0.5})
    assert st.metrics("pg") == {"pg/clipfrac": 0.25, "pg/diff_max": 0.5}  # 1.0 / 4 tokens
    st = U.TermStats(tokens=1.0, metric_sums={"clipfrac": 0.5})
    assert st.metrics("pg") == {"pg/clipfrac": 0.5}  # / 1 token
    assert U.TermStats(tokens=0.0, metric_sums={"x": 0.0}).metrics("t") == {"t/x": 0.0}  # no token: / 1


# --- micro_batch_loss and _policy_part through the real forward() -----------------------

ENT = [[0.5, 1.0, 9.0], [2.0, 9.0, 9.0], [0.25, 0.25, 0.5]]  # 9 = padding (masked)


class RecordingPolicy(torch.nn.Module):
    """The table policy behind the real ``forward``: ``sequence_logprobs`` is replaced by
    :meth:`table`, which records its keyword arguments and returns only what was asked for."""

    def __init__(self, lp, ent=ENT, hidden=None):
        super().__init__()
        self.lp = torch.nn.Parameter(torch.tensor(lp, dtype=torch.float32))
        self.ent = torch.tensor(ent)
        self.hidden = None if hidden is None else torch.tensor(hidden)
        self.calls = []

    def table(self, rows, mask, **kw):
        self.calls.append(kw)
        out = {"logprobs": self.lp[rows] * mask}
        if kw.get("return_entropy"):
            out["entropy"] = self.ent[rows] * mask
        if kw.get("return_hidden"):
            out["hidden"] = self.hidden[rows][..., None]
        return out


@pytest.fixture
def real_forward(monkeypatch):
    monkeypatch.setattr(U, "forward", REAL_FORWARD)
    monkeypatch.setattr(U, "sequence_logprobs", lambda model, prompt_ids, prompt_index, completion_ids, mask, **kw:
                        model.table(prompt_index, mask, **kw))


def rollout_state(preset, adv, sampler_shift=None, seq_weights=None, mask=MASK):
    """A rollout term over the 3 table sequences; the sampler's log-probs are LP - shift (None: not kept)."""
    s = seqs(mask)
    if sampler_shift is not None:
        s.sampling_logprobs = (torch.tensor(LP) - torch.tensor(sampler_shift)) * s.mask
    term = LossTerm("pg", preset, "rollout", torch.arange(len(s)), advantages=torch.tensor(adv),
                    seq_weights=seq_weights)
    return U.TermState(term, s, U.Counts(float(s.mask.sum()), float(len(s))))


def mb_loss(ts, s, models=None, policy=None):
    models = models or U.UpdateModels(policy or RecordingPolicy(LP), None, None)
    return U.micro_batch_loss(ts, slice(0, len(ts.seqs)), U.TermParts.of(ts, s, models), models,
                              ConstantWeights(), s)


def test_micro_batch_asks_forward_for_what_the_term_needs(real_forward):
    p = RecordingPolicy(LP)
    ts = rollout_state("grpo", [1.0, -1.0, 0.5])
    _, st = mb_loss(ts, settings(temperature=0.7), policy=p)
    assert p.calls == [{"temperature": 0.7, "return_entropy": True, "return_hidden": False, "entropy_grad": False}]
    # entropy over the 6 real tokens: 0.5 + 1 + 2 + 0.25 + 0.25 + 0.5 = 4.5 (padding's 9s excluded)
    assert st.entropy_sum == pytest.approx(4.5) and st.tokens == 6.0
    # preset metrics are summed times the token count: ratio_mean 1 (first pass) x 6 tokens
    assert st.metric_sums["ratio_mean"] == pytest.approx(6.0)
    _, st = mb_loss(ts, settings(entropy_coef=0.01), policy=p)  # an entropy bonus differentiates H
    assert p.calls[-1]["entropy_grad"] is True


def test_the_run_clip_settings_reach_the_estimator(real_forward):
    def clip(preset, shift, adv, **kw):
        _, st = mb_loss(rollout_state(preset, [adv] * 3, sampler_shift=[[shift] * 3] * 3),
                        settings(**{"old_logprobs": "sampling", **kw}))
        return {k: v / st.tokens for k, v in st.metric_sums.items()}

    # old = the sampler's LP - 0.3: r = e^0.3 = 1.35 on every token; A = +1: clipped at 1 + 0.2, not at 1 + 0.4
    assert clip("grpo", 0.3, 1.0)["clipfrac_high"] == pytest.approx(1.0)
    assert clip("grpo", 0.3, 1.0, eps_high=0.4)["clipfrac_high"] == 0.0
    # old = LP + 0.3: r = e^-0.3 = 0.741; A = -1: clipped below 1 - 0.2, not below 1 - 0.3
    assert clip("grpo", -0.3, -1.0)["clipfrac_low"] == pytest.approx(1.0)
    assert clip("grpo", -0.3, -1.0, eps_low=0.3)["clipfrac_low"] == 0.0
    # r = e^1 = 2.718, A = -1: dual-clipped with c = 2, not with the default c = 3
    assert clip("grpo_dual", 1.0, -1.0, dual_clip_c=2.0)["dual_clipfrac"] == pytest.approx(1.0)
    assert clip("grpo_dual", 1.0, -1.0)["dual_clipfrac"] == 0.0
    # "current" ignores the sampler as denominator: r = 1 at the first pass
    assert clip("grpo", 0.3, 1.0, old_logprobs="current")["ratio_mean"] == pytest.approx(1.0)


def test_shaping_gamma_reaches_the_off_policy_term(real_forward):
    # one demonstration token, log π = -0.5: π = 0.60653, f = π / (π + γ), A = 1, loss = -f;
    # seq-mean-token-sum-norm: Σ / max_len (4) / 1 sequence
    #   γ = 1: -0.60653 / 1.60653 / 4 = -0.0943853; γ = 0.1 (default): -0.60653 / 0.70653 / 4 = -0.214616
    sq = seqs([[1, 0, 0]])
    ts = U.TermState(LossTerm("off", "luffy_off_policy", "demo", torch.arange(1), advantages=torch.ones(1)), sq,
                     U.Counts(1.0, 1.0))
    p = RecordingPolicy([[-0.5, 0.0, 0.0]])
    assert mb_loss(ts, settings(shaping_gamma=1.0), policy=p)[1].loss == pytest.approx(-0.0943853, abs=1e-6)
    assert mb_loss(ts, settings(), policy=p)[1].loss == pytest.approx(-0.214616, abs=1e-6)


def test_the_sampler_mismatch_is_measured_with_the_recomputed_denominator(real_forward):
    # |log π - log π_sampler| on the real tokens: 0.1, 0.3 | 0.2 | 0.1, 0.1, 0.1 -> mean 0.9 / 6 = 0.15, max 0.3
    shift = [[0.1, 0.3, 0.0], [0.2, 0.0, 0.0], [0.1, 0.1, 0.1]]
    _, st = mb_loss(rollout_state("grpo", [1.0, 1.0, 1.0], sampler_shift=shift), settings())
    assert st.metric_max == {"rollout_logprob_diff_max": pytest.approx(0.3)}
    assert st.metric_sums["rollout_logprob_diff_mean"] / st.tokens == pytest.approx(0.15)
    # with the sampler as the denominator there is nothing to compare
    _, st = mb_loss(rollout_state("grpo", [1.0, 1.0, 1.0], sampler_shift=shift), settings(old_logprobs="sampling"))
    assert st.metric_max == {} and "rollout_logprob_diff_mean" not in st.metric_sums


def test_truncated_importance_weights_scale_the_token_losses(real_forward):
    # old = π_θ (current), sampler = LP - shift: w = min(e^shift, C) with C = 1.2 -> per real token
    #   e^0.1 = 1.10517, e^0.3 = 1.34986 -> 1.2 | e^0.2 = 1.22140 -> 1.2 | 1.10517 x3
    # GRPO at r = 1, A = 1: token loss -w; token-mean over 6: -(1.10517·4 + 1.2·2) / 6 = -1.136781
    shift = [[0.1, 0.3, 0.0], [0.2, 0.0, 0.0], [0.1, 0.1, 0.1]]
    ts = rollout_state("grpo", [1.0, 1.0, 1.0], sampler_shift=shift)
    _, st = mb_loss(ts, settings(vllm_importance_sampling_correction=True, vllm_importance_sampling_clip_max=1.2))
    assert st.loss == pytest.approx(-1.136781, abs=1e-5)
    assert st.metric_sums["is_clipped_frac"] / st.tokens == pytest.approx(2 / 6)  # 2 of 6 tokens capped
    # without the correction: -1 per token; with the sampler as denominator there is no IS weight
    assert mb_loss(ts, settings())[1].loss == pytest.approx(-1.0)
    # token_mask: a ratio above C weighs 0 instead of C: -(1.10517·4) / 6 = -0.736781
    _, st = mb_loss(ts, settings(vllm_importance_sampling_correction=True, vllm_importance_sampling_clip_max=1.2,
                                 vllm_importance_sampling_mode="token_mask"))
    assert st.loss == pytest.approx(-0.736781, abs=1e-5)
    # (TrainConfig refuses correction + old_logprobs=sampling; LossSettings built directly must not weight either)
    _, st = mb_loss(ts, replace(settings(vllm_importance_sampling_correction=True), old_logprobs="sampling"))
    assert "is_weight_mean" not in st.metric_sums


def test_sequence_weights_scale_each_sequence(real_forward):
    # SFT (A ≡ 1): token loss -log π · w_i; token-mean over 6 tokens:
    #   (2·(1 + 2) + 0.25·3 + 1·(0.5 + 0.5 + 1)) / 6 = (6 + 0.75 + 2) / 6 = 1.458333
    sq = seqs(MASK)
    w = torch.tensor([2.0, 0.25, 1.0], dtype=torch.float64)  # float64 weights do not make the loss float64
    ts = U.TermState(LossTerm("sft", "sft", "demo", torch.arange(3), seq_weights=w), sq, U.Counts(6.0, 3.0))
    total, st = mb_loss(ts, settings())
    assert st.loss == pytest.approx(1.458333, abs=1e-6) and total.dtype == torch.float32


def test_entropy_weighted_presets_get_the_micro_batch_entropies(real_forward):
    # srft_sft: w_i = 0.5·exp(-H_i), H_i the mean entropy of demonstration i over its real tokens:
    #   H = (0.5 + 1) / 2 = 0.75, 2, (0.25 + 0.25 + 0.5) / 3 = 1/3 -> w = 0.236183, 0.067668, 0.358266
    #   token loss -log π · w_i, token-mean: (3·0.236183 + 3·0.067668 + 2·0.358266) / 6 = 0.271347
    ts = U.TermState(LossTerm("sft", "srft_sft", "demo", torch.arange(3)), seqs(MASK), U.Counts(6.0, 3.0))
    _, st = mb_loss(ts, settings())
    assert st.loss == pytest.approx(0.271347, abs=1e-5)


def test_the_value_loss_joins_the_total_with_its_coefficient(real_forward):
    # one sequence, 2 real tokens; the critic (identity head on 1 hidden feature) says V = [0.5, 0.0];
    # old values 0, returns 1, cliprange_value 0.1: V_clip = [0.1, 0.0]
    #   l = ½ max((V - R)², (V_clip - R)²) = ½ max(0.25, 0.81), ½ max(1, 1) = 0.405, 0.5 -> token-mean 0.4525
    # zero (GAE) advantages: the PG part is 0, so total = vf_coef · 0.4525 = 0.5 · 0.4525 = 0.22625
    sq = seqs([[1, 1, 0]])
    ts = U.TermState(LossTerm("pg", "ppo", "rollout", torch.arange(1)), sq, U.Counts(2.0, 1.0))
    z = torch.zeros(1, 3)
    ts.gae = U.GAETargets(advantages=z, returns=torch.tensor([[1.0, 1.0, 0.0]]), old_values=z)
    p = RecordingPolicy([[-1.0, -1.0, 0.0]], hidden=[[0.5, 0.0, 7.0]])
    models = U.UpdateModels(p, None, torch.nn.Identity())
    total, st = mb_loss(ts, settings(cliprange_value=0.1, vf_coef=0.5), models=models)
    assert p.calls[-1]["return_hidden"] is True
    assert st.vf_loss == pytest.approx(0.4525) and total.item() == pytest.approx(0.22625)


def test_kl_reference_is_frozen_per_micro_batch(real_forward):
    # log ρ = ref - log π = 0.2 on every real token: k3 = e^0.2 - 1 - 0.2 = 0.0214028, token-mean 0.0214028,
    # whatever the micro-batch size
    ref = RecordingPolicy([[x + 0.2 for x in row] for row in LP])
    for mbs in (1, 3):
        ts = rollout_state("grpo", [1.0, -1.0, 0.5])
        models = U.UpdateModels(RecordingPolicy(LP), ref, None)
        st = term_backward(ts, models, ConstantWeights(), settings(beta=0.1, micro_batch_size=mbs))
        assert st.kl == pytest.approx(0.0214028, abs=1e-6)
        assert ref.calls[-1] == {"temperature": 1.0}  # the reference scores at the run's temperature


def test_term_stats_add_sums_and_keeps_maxima():
    a = U.TermStats(loss=1.0, tokens=2.0, metric_sums={"x": 1.0}, metric_max={"m": 0.3})
    a.add(U.TermStats(loss=0.5, tokens=3.0, skipped=1, metric_sums={"x": 2.0, "y": 0.5}, metric_max={"m": 0.1, "n": 0.2}))
    assert (a.loss, a.tokens, a.skipped) == (1.5, 5.0, 1)
    assert a.metric_sums == {"x": 3.0, "y": 0.5} and a.metric_max == {"m": 0.3, "n": 0.2}
    a.add(U.TermStats(metric_max={"m": 0.7}))
    assert a.metric_max == {"m": 0.7, "n": 0.2}


def test_sequences_slice_and_move_keep_every_field():
    s = U.Sequences([[1], [2, 3]], torch.tensor([0, 1, 1]), torch.ones(3, 2, dtype=torch.long), torch.ones(3, 2),
                    torch.full((3, 2), -0.5), torch.tensor([1.0, 0.0, 1.0]))
    sub = s.slice(slice(1, 3))
    assert sub.prompt_ids is s.prompt_ids and sub.prompt_index.tolist() == [1, 1]
    assert sub.sampling_logprobs.tolist() == [[-0.5, -0.5]] * 2 and sub.rewards.tolist() == [0.0, 1.0]
    moved = s.to(torch.device("cpu"))
    assert moved.prompt_ids is s.prompt_ids and torch.equal(moved.sampling_logprobs, s.sampling_logprobs)
    assert torch.equal(moved.rewards, s.rewards)


def test_term_parts_by_case():
    on = rollout_state("grpo", [1.0, 0.0, 0.0])
    ref, head = RecordingPolicy(LP), torch.nn.Identity()
    parts = lambda ts, s, r=None, h=None: U.TermParts.of(ts, s, U.UpdateModels(None, r, h))  # noqa: E731
    assert parts(on, settings(beta=0.1), ref) == U.TermParts(kl=True, entropy=False, value=False)
    assert parts(on, settings(beta=0.0), ref).kl is False  # β = 0: no KL
    assert parts(on, settings(beta=0.1)).kl is False  # no reference model
    assert parts(on, settings(), h=head).value is False  # a value head but no GAE targets
    on.gae = U.GAETargets(torch.zeros(3, 3), torch.zeros(3, 3), torch.zeros(3, 3))
    assert parts(on, settings()).value is False  # GAE targets but no value head
    assert parts(on, settings(), h=head).value is True


def test_model_device_of_a_model_without_weights_is_the_cpu():
    assert U.model_device(torch.nn.Module()) == torch.device("cpu")


def test_forward_hands_everything_to_sequence_logprobs(monkeypatch):
    seen = {}

    def fake(model, prompt_ids, prompt_index, completion_ids, mask, **kw):
        seen.update(model=model, prompt_ids=prompt_ids, kw=kw)
        return {"logprobs": torch.zeros_like(mask)}

    monkeypatch.setattr(U, "sequence_logprobs", fake)
    model, sq = torch.nn.Linear(1, 1), seqs(MASK)
    REAL_FORWARD(model, sq, settings(temperature=0.6), return_entropy=True)
    assert seen == {"model": model, "prompt_ids": sq.prompt_ids, "kw": {"temperature": 0.6, "return_entropy": True}}


def test_zero_advantage_skip_can_be_turned_off():
    ts = state(LossTerm("pg", "grpo", "rollout", torch.tensor([0, 1]), advantages=torch.zeros(2)))
    parts = U.TermParts(False, False, False)
    assert U.runnable_micro_batches(ts, parts, settings(micro_batch_size=1)) == ([], 2)
    assert U.runnable_micro_batches(ts, parts, settings(micro_batch_size=1, skip_zero_advantage=False)) == (
        [slice(0, 1), slice(1, 2)], 0)


def test_term_backward_scales_the_gradient():
    g1, _ = grad_of(TablePolicy(LP), [state(sft_term([0, 2]))])
    p = TablePolicy(LP)
    p.lp.grad = None
    term_backward(state(sft_term([0, 2])), U.UpdateModels(p, None, None), ConstantWeights(), settings(), scale=2.0)
    assert torch.allclose(p.lp.grad, 2 * g1)


@pytest.mark.parametrize("kl", [False, True])
def test_micro_batches_sorted_by_length_give_the_same_gradient(kl, monkeypatch):
    """``micro_batch_order=length`` (#28 item 4) on the tiny model: 12 sequences of 4 prompts,
    completions of 9 and 1 tokens in turn, group advantages with two all-zero groups
    (skipped in both orders), an SFT term alongside, optionally a KL reference. The gradient is the
    one of the batch-order micro-batches (float summation order aside), the same micro-batches are
    skipped, the losses agree, and the forwards compute fewer positions."""
    from hybridrl.models.tiny import build_tiny_model, build_tiny_tokenizer
    from hybridrl.training.update.optimize import backward_terms

    monkeypatch.setattr(U, "forward", REAL_FORWARD)  # the real model, not the table
    tok = build_tiny_tokenizer()
    g = torch.Generator().manual_seed(3)
    prompts = [torch.randint(3, 100, (n,), generator=g).tolist() for n in (5, 6, 5, 6)]
    lengths = [9, 1] * 6  # long and short completions alternate: the batch's micro-batches all pad to 9
    ids = torch.randint(3, 100, (12, 9), generator=g)
    mask = torch.tensor([[1.0] * n + [0.0] * (9 - n) for n in lengths])
    seqs = U.Sequences(prompts, torch.arange(4).repeat_interleave(3), ids, mask, None, torch.zeros(12))
    adv = torch.tensor([1.0, -0.5, -0.5, 0, 0, 0, 0.7, -0.7, 0.0, 0, 0, 0])
    pg = LossTerm("pg", "grpo", "rollout", torch.arange(12), advantages=adv)
    sft = LossTerm("sft", "sft", "demo", torch.tensor([1, 4, 9, 11]))
    grads, stats = {}, {}
    for order in ("given", "length"):
        model = build_tiny_model(tok, seed=0)
        ref = build_tiny_model(tok, seed=1) if kl else None
        s = settings(micro_batch_size=3, micro_batch_order=order, beta=0.1 if kl else 0.0)
        opt = Optimization(models=U.UpdateModels(model, ref, None), settings=s,
                           optimizer=torch.optim.SGD(model.parameters(), lr=0.0),
                           policy_params=list(model.parameters()), extra_params=[], par=OneProcess(),
                           max_grad_norm=0.0, num_iterations=1, max_nonfinite_steps=3)
        states = build_term_states([pg, sft], lambda t: seqs.slice(t.indices), opt.par)
        stats[order] = backward_terms(opt, states, ConstantWeights(), [pg, sft])
        grads[order] = {n: p.grad.clone() for n, p in model.named_parameters()}
    for n in grads["given"]:
        torch.testing.assert_close(grads["length"][n], grads["given"][n], atol=1e-6, rtol=1e-5)
    a, b = stats["given"], stats["length"]
    assert a["pg"].skipped == b["pg"].skipped == (0 if kl else 2)  # rows 3-5, 9-11 (given) / 6 of the 7 zero rows (length)
    for name in ("pg", "sft"):
        assert b[name].loss == pytest.approx(a[name].loss, abs=1e-6)
        assert b[name].positions <= a[name].positions
    # the SFT rows 1, 4, 9, 11 (completions 1, 9, 1, 1): [1, 4, 9] + [11] = 3 × 15 + 7 = 52 positions
    # in the batch's order, [1, 9, 11] + [4] = 3 × 7 + 15 = 36 sorted
    assert (a["sft"].positions, b["sft"].positions) == (52.0, 36.0)


def test_loss_settings_take_every_setting_of_the_same_name_from_the_config():
    """LossSettings.of names each field it reads from the config's sections: one it forgets keeps
    its dataclass default whatever the user set (micro_batch_order was, in the merge of #25 and #28).
    Every field that is also a config key must follow a non-default value."""
    import contextlib
    import dataclasses

    from hybridrl.config import build_config
    from hybridrl.config.keys import KEYS

    keys = {f.name for f in dataclasses.fields(U.LossSettings)} & set(KEYS)
    assert {"micro_batch_order", "micro_batch_size", "beta", "critic_detach"} <= keys
    changed = {"micro_batch_order": "length", "micro_batch_size": 3, "beta": 0.25, "critic_detach": False,
               "old_logprobs": "sampling", "skip_zero_advantage": False, "kl_estimator": "k1",
               "entropy_coef": 0.01, "sft_loss_type": "dft", "loss_agg_mode": "token-mean"}
    cfg = build_config(None, {"method": "grpo", "model": "tiny", "task": "chain_sum"},
                       [f"{k}={v}" for k, v in changed.items()])
    s = U.LossSettings.from_config(cfg, contextlib.nullcontext)
    for k in keys:
        assert getattr(s, k) == getattr(cfg, k), k
    for k, v in changed.items():
        assert getattr(s, k) == v, k
