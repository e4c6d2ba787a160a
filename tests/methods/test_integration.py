"""One integration test per method: a few steps of the real loop on the tiny model (CPU),
with scripted rewards, asserting the method's signature behaviour.

The controllers are tested alone with scripted inputs in the other files of this folder;
here the whole path runs: sampler -> controller.needs -> generation -> reward workers ->
controller.plan -> estimator presets -> aggregation -> AdamW -> controller.observe -> the
metrics record. Rewards come from ``integration_rewards`` (always 0, always 1, even
completion length, or a property of the prompt), so each test can say exactly what the
method must do. ``spy_plans`` records what the loop handed each ``plan`` call and what came
back (it calls the real ``plan``; nothing is mocked).

At step 0 every PPO ratio is exactly 1 (the old log-probs are the current ones, detached),
so a clipped-ratio term's per-token loss is −A_i; presets with a detached denominator
(REINFORCE, RLOO, SRFT) write the surrogate as −A_i·log π (same gradient). Either way the
logged term losses can be written down by hand from the rewards, the completion lengths
and the sampling log-probs (temperature 1: the training log-probs at step 0).
"""

from __future__ import annotations

import json
import math

import pytest
import torch

from hybridrl.training.loop.trainer import Trainer
from integration_helpers import (BASE, LR, PROBE, demo_logprobs, make_cfg, make_trainer, run, spy_plans, terms,
                                 weights)
from integration_rewards import answer_is_even, reward_fn


# --- plain methods -------------------------------------------------------------------------


def test_sft_trains_on_demonstrations_only(tmp_path):
    t = make_trainer(tmp_path, "sft")
    nll = []

    def oracle(data):
        # token-mean NLL of the demonstrations under the current model, by a plain forward pass
        total, count = 0.0, 0
        with torch.no_grad():
            for row in data.rows:
                p, d = t.prompt_ids(row), t.demo_ids(row)
                logits = t.model(torch.tensor([p + d])).logits[0].float()
                logp = torch.log_softmax(logits[len(p) - 1: -1], -1)  # predicts d[0..]
                total -= float(logp.gather(1, torch.tensor(d)[:, None]).sum())
                count += len(d)
        nll.append(total / count)

    seen = spy_plans(t, oracle)
    recs = run(t)
    for rec, expected, (_, data, _) in zip(recs, nll, seen):
        assert "reward" not in rec and data.rollouts is None  # SFT never samples
        assert "pg_loss" not in rec and rec["sft_fraction"] == 1.0
        assert rec["sft_loss"] == pytest.approx(expected, rel=1e-5)
        assert rec["loss"] == rec["sft_loss"]


def _oracle_advantages(method: str, rewards: list[float], groups: list[int]) -> list[float]:
    """A simple loop over samples: the advantage each plain RL method must use."""
    out = []
    for i, r in enumerate(rewards):
        g = [rewards[j] for j in range(len(rewards)) if groups[j] == groups[i]]
        n, mean = len(g), sum(g) / len(g)
        if method == "grpo":  # (R - mean) / (std + 1e-6), Bessel std
            std = math.sqrt(sum((x - mean) ** 2 for x in g) / (n - 1))
            out.append((r - mean) / (std + 1e-6))
        elif method == "dr_grpo":  # R - mean, no std
            out.append(r - mean)
        elif method == "reinforce":  # ±1, no baseline
            out.append(1.0 if r > 0.5 else -1.0)
        elif method == "rloo":  # R - mean of the other n - 1
            out.append(r - (sum(g) - r) / (n - 1))
    return out


def test_plain_rl_methods_differ_only_in_their_advantages(tmp_path):
    """Same seed -> same rollouts and rewards; the advantages and the reduction differ.

    Step 0 ratio = 1; with L_i the completion length, ℓ_i = Σ_t log π(y_it), N = 8 samples
    and T = max_new_tokens = 8:
      grpo (−A r, token-mean):                     −Σ A_i L_i / Σ L_i
      dr_grpo (−A r, token-sum / T, seq-mean):     −Σ A_i L_i / T / N
      reinforce, rloo (−A log π, token-sum, seq-mean): −Σ A_i ℓ_i / N
    """
    advs, rewards = {}, {}
    for method in ("grpo", "dr_grpo", "reinforce", "rloo"):
        # the sampler's log-probs are the oracle for log π at step 0: ask the generator for them
        t = make_trainer(tmp_path, method, old_logprobs="sampling")
        seen = spy_plans(t)
        rec = t.step(0)
        _, data, updates = seen[0]
        r, groups = data.rewards.tolist(), data.rollouts.prompt_index.tolist()
        lengths = data.rollouts.completion_mask.sum(1).tolist()
        seq_logp = (data.rollouts.logprobs * data.rollouts.completion_mask).sum(1).tolist()
        pg = terms(updates)["pg"]
        assert pg.preset == method
        expected = _oracle_advantages(method, r, groups)
        assert pg.advantages.tolist() == pytest.approx(expected, abs=1e-6)
        s = -sum(a * n for a, n in zip(expected, lengths))
        want = {"grpo": s / sum(lengths), "dr_grpo": s / 8 / len(r),
                "reinforce": -sum(a * l for a, l in zip(expected, seq_logp)) / len(r)}
        want["rloo"] = want["reinforce"]
        assert rec["pg_loss"] == pytest.approx(want[method], rel=1e-4, abs=1e-6)
        advs[method], rewards[method] = pg.advantages.tolist(), r
    assert len({tuple(r) for r in rewards.values()}) == 1  # the same samples for all four
    r = rewards["grpo"]
    mixed = [g for g in range(2) if 0 < sum(r[4 * g: 4 * g + 4]) < 4]
    assert mixed, "precondition: at least one group with mixed rewards"
    assert len({tuple(round(a, 6) for a in v) for v in advs.values()}) == 4


def _gae_oracle(rewards: list[float], values: list[list[float]], lam: float = 1.0) -> list[list[float]]:
    """A plain loop: reward R_i on the last token, γ = 1: A_t = δ_t + λ A_{t+1},
    δ_t = r_t + V_{t+1} − V_t (V after the last token = 0)."""
    out = []
    for r, v in zip(rewards, values):
        adv, nxt = [0.0] * len(v), 0.0
        for t_ in reversed(range(len(v))):
            v_next = v[t_ + 1] if t_ + 1 < len(v) else 0.0
            delta = (r if t_ == len(v) - 1 else 0.0) + v_next - v[t_]
            nxt = delta + lam * nxt
            adv[t_] = nxt
        out.append(adv)
    return out


def test_ppo_uses_gae_from_a_trained_value_head(tmp_path):
    t = make_trainer(tmp_path, "ppo", "even_char_sum")
    values = []

    def critic(data):  # V(s_t) of every rollout token under the value head as it is now
        from hybridrl.rollout.logprobs import sequence_logprobs

        ro = data.rollouts
        with torch.no_grad():
            out = sequence_logprobs(t.model, ro.prompt_ids, ro.prompt_index, ro.completion_ids,
                                    ro.completion_mask.float(), return_hidden=True)
            v = t.value_head(out["hidden"].float()).squeeze(-1)
        values.append([v[i, : int(ro.completion_mask[i].sum())].tolist() for i in range(ro.num_samples)])

    seen = spy_plans(t, critic)
    assert t.value_head is not None and float(t.value_head.weight.detach().abs().sum()) == 0.0  # zero-initialised
    recs = run(t, 2)
    pg = terms(seen[0][2])["pg"]
    assert pg.preset == "ppo" and pg.advantages is None  # the loop computes GAE from the critic
    assert recs[0]["grad_norm"] > 0
    assert float(t.value_head.weight.detach().abs().sum()) > 0  # the value loss trained the head
    for rec, vals, (_, data, _) in zip(recs, values, seen):
        rewards = data.rewards.tolist()
        assert 0 < sum(rewards) < len(rewards)  # precondition: the advantages are not all equal
        adv = _gae_oracle(rewards, vals)
        flat = [a for row in adv for a in row]
        # step 0: V ≡ 0, so A_t = R at every token (γ = λ = 1). Step 1: the head has trained
        # one step and its values enter δ_t.
        # value loss at the first pass: V = V_old, returns = A + V -> ½ (V − R_t)² = ½ A_t²,
        # token mean
        assert rec["vf_loss"] == pytest.approx(sum(0.5 * a * a for a in flat) / len(flat), rel=1e-4)
        # whitening: Â = (A − mean) / std over all real tokens, so at ratio 1 the token-mean
        # PG loss −mean(Â) is 0 (unwhitened it would be −mean(A) ≠ 0)
        assert abs(sum(flat) / len(flat)) > 1e-3 and rec["pg_loss"] == pytest.approx(0.0, abs=1e-6)


def test_ppo_critic_learns_at_its_own_rate_and_stays_out_of_the_policy(tmp_path):
    # reward 1 for every rollout: with V ≡ 0 and γ = λ = 1 every token's A = 1, whitened to 0,
    # so the policy-gradient part is exactly 0 and only the value loss ½ (V − 1)² has a gradient.
    t = make_trainer(tmp_path / "detached", "ppo", "always_one", lr=1e-6)
    assert t.cfg.critic_lr == 1e-3 and t.cfg.critic_detach and t.cfg.gae_lambda == 1.0
    assert [g["lr"] for g in t.optimizer.param_groups][-1] == 1e-3  # the critic's own group
    recs = run(t, 20)
    vf = [r["vf_loss"] for r in recs]
    # V ≡ 0 at the start: ½ (0 − 1)² = 0.5. Measured at critic_lr 1e-3 (tiny model): 0.500 ->
    # 0.218 at step 20; at verl's 1e-5 applied to a head alone: 0.500 -> 0.496
    assert vf[0] == pytest.approx(0.5, abs=1e-6) and vf[-1] < 0.6 * vf[0]
    # step 0 (V ≡ 0, Â ≡ 0): the value loss is the whole loss and does not reach the policy
    # (later steps have V ≠ const, so Â ≠ 0 and the policy moves by its own gradient)
    assert recs[0]["grad_norm"] == 0.0
    # Step 0 moves the zero head by AdamW's first step (± critic_lr, whatever vf_coef) and leaves
    # the policy as it was, so step 1 starts from the same state for any vf_coef. Its policy
    # gradient then depends on vf_coef only if the value loss reaches the policy: not with the
    # detached head, yes with the shared trunk (critic_detach=false, the behaviour before).
    for detach in (True, False):
        norms = [run(make_trainer(tmp_path / f"d{detach}{c}", "ppo", "always_one", lr=1e-6, vf_coef=c,
                                  critic_detach=detach), 2)[1]["grad_norm"] for c in (0.1, 10.0)]
        assert (norms[0] == pytest.approx(norms[1], rel=1e-6)) is detach, (detach, norms)
    # verl's critic lr on a head alone barely moves it
    t = make_trainer(tmp_path / "slow", "ppo", "always_one", lr=1e-6, critic_lr=1e-5)
    vf = [r["vf_loss"] for r in run(t, 20)]
    assert vf[-1] > 0.98 * vf[0]


def test_superrl_ppo_hybrid_uses_the_same_critic(tmp_path):
    t = make_trainer(tmp_path, "superrl", "always_one", rl_preset="ppo")
    assert t.value_head is not None
    assert [g["lr"] for g in t.optimizer.param_groups][-1] == t.cfg.critic_lr == 1e-3


def test_sft_then_rl_switches_and_measures_kl_to_the_sft_model(tmp_path):
    t = make_trainer(tmp_path, "sft_then_rl", "even_char_sum", sft_then_rl_sft_steps=1, beta=0.1)
    recs = run(t)
    assert [r["phase"] for r in recs] == ["sft", "rl", "rl"]
    assert "reward" not in recs[0] and "reward" in recs[1]
    # step 1: the reference was reset to the policy after the SFT step, so KL is 0 ...
    assert recs[1]["kl"] == pytest.approx(0.0, abs=1e-7)
    # ... and after one RL update the policy has moved away from it
    assert recs[1]["grad_norm"] > 0 and recs[2]["kl"] > 1e-7


# --- HPT -----------------------------------------------------------------------------------


def test_hpt_all_rollouts_wrong_trains_by_sft_only(tmp_path):
    t = make_trainer(tmp_path, "hpt", "always_zero")
    seen = spy_plans(t)
    for rec, (_, data, updates) in zip(run(t), seen):
        assert rec["reward"] == 0.0  # rollouts are sampled (the gate needs them) ...
        assert rec["sft_fraction"] == 1.0 and rec["hpt/num_sft"] == 2 and rec["hpt/num_rl"] == 0
        assert len(terms(updates)["pg"].indices) == 0  # ... and all dropped
        assert rec["pg_loss"] == 0.0 and rec["sft_loss"] > 0 and rec["loss"] == rec["sft_loss"]


def test_hpt_all_rollouts_right_trains_by_rl_only(tmp_path):
    # every group is all-correct: Dr. GRPO advantages are 0, and no SFT -> no gradient at all
    t = make_trainer(tmp_path, "hpt", "always_one")
    w0 = weights(t.model)
    for rec in run(t):
        assert rec["sft_fraction"] == 0.0 and rec["hpt/num_sft"] == 0 and rec["hpt/num_rl"] == 2
        assert rec["sft_loss"] == 0.0 and rec["grad_norm"] == 0.0
    for k, v in weights(t.model).items():
        assert torch.equal(v, w0[k])


def test_hpt_gates_each_prompt(tmp_path):
    # reward = 1 for every rollout of a prompt with an even answer: those prompts get Dr. GRPO
    # on their rollouts, the others SFT on their demonstration
    t = make_trainer(tmp_path, "hpt", "even_answer")
    seen = spy_plans(t)
    recs = run(t)
    kinds = []
    for rec, (_, data, updates) in zip(recs, seen):
        odd = [i for i, row in enumerate(data.rows) if not answer_is_even(row)]
        by = terms(updates)
        assert by["sft"].indices.tolist() == odd
        kept_rows = sorted(set(data.rollouts.prompt_index[by["pg"].indices].tolist()))
        assert kept_rows == [i for i in range(len(data.rows)) if i not in odd]
        # the paper's sample-level fraction: demonstrations / (demonstrations + kept rollouts),
        # 4 rollouts per kept prompt; today's prompt-level share is sft_prompt_share
        assert rec["sft_fraction"] == pytest.approx(len(odd) / (len(odd) + 4 * (2 - len(odd))))
        assert rec["sft_prompt_share"] == len(odd) / 2
        kinds.append(updates[0].kind)
    assert "hybrid" in kinds  # precondition: this seed has a step with one prompt of each


@pytest.mark.parametrize("fn, reward", [("switch", "even_answer"), ("linear", "even_length")])
def test_hpt_question_balance_is_the_same_update_for_any_micro_batch_size(tmp_path, fn, reward):
    # one question, one vote (the default balance): the weights after 2 steps do not depend on
    # how the step's sequences are cut into micro-batches (counts are questions, not sequences)
    final = []
    for mb in (8, 1, 3):
        t = make_trainer(tmp_path / f"mb{mb}", "hpt", reward, hpt_alpha_fn=fn, micro_batch_size=mb,
                         sampling_seed="prompt", prompts_per_step=4)
        assert t.controller.balance == "question"
        recs = run(t, 2)
        # precondition: SFT and RL questions in one step (the counts mix both terms)
        assert any(0 < r["sft_prompt_share"] < 1 for r in recs)
        final.append(weights(t.model))
    for other in final[1:]:
        assert max(float((final[0][k] - other[k]).abs().max()) for k in other) < 1e-6


def test_hpt_removes_only_rows_trained_by_sft_alone(tmp_path):
    # linear feedback, reward per completion length: a prompt with 0 < P < 1 trains both SFT
    # (β = 1 − P) and RL (α = P) and stays; only prompts with P = 0 (SFT alone) are removed
    t = make_trainer(tmp_path, "hpt", "even_length", hpt_alpha_fn="linear", hpt_remove_sft_solved=True)
    seen = spy_plans(t)
    run(t, 4)
    sft_alone, both = set(), set()
    for _, data, _ in seen:
        acc = data.correct.float().view(len(data.rows), -1).mean(1).tolist()
        for row, p in zip(data.rows, acc):
            (sft_alone if p == 0 else both if p < 1 else set()).add(row.id)
    assert both - sft_alone, "precondition: a prompt trained by SFT and RL together"
    assert t.controller.excluded_ids() == sft_alone


# --- SuperRL -------------------------------------------------------------------------------


WLR = 0.05  # loss_weight_lr: the learnable weights' own learning rate


def test_superrl_sparse_switches_to_the_hybrid_actor(tmp_path):
    t = make_trainer(tmp_path, "superrl", "always_zero", loss_weight_lr=WLR, **PROBE)
    recs = run(t)
    assert [r["switch_decision"] for r in recs] == ["probing", "sparse", "sparse"]
    assert [r["superrl/phase"] for r in recs] == ["probe", "probe", "hybrid"]
    assert recs[1]["superrl/increase_num"] == 0 and recs[1]["superrl/recent_avg"] == 0.0
    for r in recs[:2]:  # probe: pure RL, the learnable weights untouched
        assert "sft_loss" not in r and r["sigma_pg"] == 1.0 and r["sigma_sft"] == 1.0
    h = recs[2]
    assert h["pg_loss"] == 0.0 and h["sft_loss"] > 0  # both terms, pg is 0 (all rewards equal)
    # L = e^{-2 s_pg} L_pg + e^{-2 s_sft} L_sft + s_pg + s_sft at s = 0:
    #   dL/ds_pg = −2 L_pg + 1 = 1 > 0,   dL/ds_sft = −2 L_sft + 1 < 0 (L_sft > 0.5)
    # AdamW's first step moves each by loss_weight_lr (not the policy's lr) against the sign:
    #   s_pg = −0.05 -> σ_pg = e^{−0.05};  s_sft = +0.05 -> σ_sft = e^{+0.05}
    assert h["sft_loss"] > 0.5
    # the logged loss is the one optimised, with the weights before the step: e^0 = 1, s = 0
    assert h["loss"] == pytest.approx(h["pg_loss"] + h["sft_loss"], rel=1e-6)
    assert h["sigma_pg"] == pytest.approx(math.exp(-WLR), rel=1e-6)
    assert h["sigma_sft"] == pytest.approx(math.exp(WLR), rel=1e-6)


def test_superrl_guard_stops_sigma_pg(tmp_path):
    # all rewards 0: L_pg = 0, so dL/ds_pg = 1 at every hybrid step and s_pg falls by
    # loss_weight_lr = 0.5 per AdamW step: −0.5, −1.0, then −1.5 is projected to −1.15
    t = make_trainer(tmp_path, "superrl", "always_zero", loss_weight_lr=0.5, max_new_tokens=4, **PROBE)
    recs = run(t, 5)
    assert [round(math.log(r["sigma_pg"]), 6) for r in recs[2:]] == [-0.5, -1.0, -1.15]


def test_superrl_with_ppo_trains_a_value_head(tmp_path):
    # the PPO hybrid of SuperRL Tables 3-4: probe with PPO, then PPO + SFT under the weights
    always_sparse = dict(PROBE, superrl_increase_threshold=3, superrl_avg_threshold=1.01)
    t = make_trainer(tmp_path, "superrl", "even_char_sum", rl_preset="ppo", **always_sparse)
    assert t.value_head is not None
    recs = run(t)
    assert all(r["vf_loss"] > 0 for r in recs)  # the critic is trained at every step
    assert recs[2]["superrl/phase"] == "hybrid" and recs[2]["sft_loss"] > 0


def test_superrl_dense_stays_vanilla_rl(tmp_path):
    t = make_trainer(tmp_path, "superrl", "always_one", **PROBE)
    recs = run(t)
    assert [r["switch_decision"] for r in recs] == ["probing", "dense", "dense"]
    assert recs[2]["superrl/phase"] == "rl" and "sft_loss" not in recs[2]
    assert recs[2]["sigma_pg"] == 1.0 and recs[2]["sigma_sft"] == 1.0


def test_superrl_theta_moves_weight_towards_the_smaller_loss(tmp_path):
    t = make_trainer(tmp_path, "superrl_theta", "always_zero", loss_weight_lr=WLR, **PROBE)
    recs = run(t)
    assert recs[1]["theta"] == 0.0 and recs[1]["w_pg"] == 0.5
    # L = σ(α) L_pg + (1 − σ(α)) L_sft, dL/dα = σ'(α)(L_pg − L_sft) < 0 (L_pg = 0): α += lr
    assert recs[2]["pg_loss"] == 0.0 and recs[2]["sft_loss"] > 0
    assert recs[2]["theta"] == pytest.approx(WLR, rel=1e-5)
    assert recs[2]["w_pg"] > 0.5 and recs[2]["w_pg"] + recs[2]["w_sft"] == pytest.approx(1.0)


def test_superrl_per_step_makes_an_rl_then_an_sft_update(tmp_path):
    t = make_trainer(tmp_path, "superrl_per_step", "always_zero", loss_weight_lr=WLR, **PROBE)
    seen = spy_plans(t)
    recs = run(t)
    assert [u.kind for u in seen[2][2]] == ["rl", "sft"]
    h = recs[2]
    assert h["grad_norm/rl"] == 0.0 and h["grad_norm/sft"] > 0  # two updates were logged
    assert "sigma_pg" not in h
    assert h["sigma_sft"] == pytest.approx(math.exp(WLR), rel=1e-6)  # e^{-2s} L_sft + s: s += lr


# --- SASR family ---------------------------------------------------------------------------


def _draws(seed: int, n: int) -> list[float]:
    g = torch.Generator().manual_seed(seed)
    return [float(torch.rand((), generator=g)) for _ in range(n)]


def test_sasr_warms_up_then_switches_by_gradient_norm(tmp_path):
    t = make_trainer(tmp_path, "sasr", sasr_warmup_steps=2, sasr_gamma=3.0)
    recs = run(t)
    for r in recs[:2]:  # W = 2 warm-up SFT steps: no rollouts
        assert "reward" not in r and r["sasr_p"] == 1.0 and r["sft_fraction"] == 1.0
    # G_warmup = ‖∇L_SFT‖ of the last warm-up step = G_last, so p = G / (G + 3 G) = 0.25
    assert recs[2]["sasr/g_warmup"] == recs[1]["grad_norm"]
    assert recs[2]["sasr_p"] == pytest.approx(0.25, abs=1e-12)
    (u,) = _draws(0, 1)
    assert u >= 0.25  # precondition (seed 0: u = 0.496): step 2 is a GRPO step
    assert "reward" in recs[2] and recs[2]["sft_fraction"] == 0.0 and "pg_loss" in recs[2]


def test_sasr_grpo_steps_carry_kl_to_the_initial_model(tmp_path):
    # SASR eq. 4: −β KL(π_θ ‖ π_ref) in the GRPO objective. W = 1 SFT warm-up step, then γ huge
    # -> p ≈ 0: step 1 is GRPO. The SFT step carries no KL term (kl 0); the GRPO step measures
    # the KL of the policy (moved by the SFT step) to the initial model: > 0.
    t = make_trainer(tmp_path, "sasr", "even_char_sum", sasr_warmup_steps=1, sasr_gamma=1e12, beta=0.1)
    recs = run(t, 2)
    assert "reward" not in recs[0] and recs[0]["kl"] == 0.0
    assert "reward" in recs[1] and recs[1]["kl"] > 1e-7


def test_ssr_alternates(tmp_path):
    recs = run(make_trainer(tmp_path, "ssr"))
    assert ["reward" in r for r in recs] == [False, True, False]
    assert [r["sft_fraction"] for r in recs] == [1.0, 0.0, 1.0]
    assert "sft_loss" in recs[0] and "pg_loss" in recs[1] and "sft_loss" not in recs[1]


def test_ssr_cosine_follows_its_schedule(tmp_path):
    t = make_trainer(tmp_path, "ssr_cosine", steps=3)
    recs = run(t)
    # I(s) = 0.5 (1 + cos(π s / 3)) (U − L) + L with U = 1, L = 0: 1, 0.75, 0.25
    assert [r["ssr_cosine/p_sft"] for r in recs] == pytest.approx([1.0, 0.75, 0.25])
    us = _draws(0, 3)
    assert ["reward" not in r for r in recs] == [u < p for u, p in zip(us, [1.0, 0.75, 0.25])]


def test_static_hybrid_follows_data_epochs(tmp_path):
    # 2 rows, 2 prompts per step: one epoch per step; default 2 epochs SFT then 1 of GRPO
    recs = run(make_trainer(tmp_path, "static_hybrid", train_size=2))
    assert [r["epoch"] for r in recs] == [0, 1, 2]
    assert ["reward" in r for r in recs] == [False, False, True]
    assert [r["sft_fraction"] for r in recs] == [1.0, 1.0, 0.0]


# --- LUFFY, SRFT ---------------------------------------------------------------------------


@pytest.mark.parametrize("gamma", [0.1, 1.0])
def test_luffy_replaces_one_rollout_per_group_by_the_demo(tmp_path, gamma):
    t = make_trainer(tmp_path, "luffy", "always_zero", luffy_n_off=1, shaping_gamma=gamma)
    demo = []
    seen = spy_plans(t, lambda data: demo.append(demo_logprobs(t, data.rows)))
    rec = t.step(0)
    _, data, updates = seen[0]
    assert data.rollouts.num_samples == 2 * 3  # n − n_off = 4 − 1 sampled per prompt
    by = terms(updates)
    assert by["off"].source == "demo" and by["off"].indices.tolist() == [0, 1]
    # group = 3 rollouts (R = 0) + the demo (R = 1): mean 1/4, no std
    assert by["pg"].advantages.tolist() == pytest.approx([-0.25] * 6)
    assert by["off"].advantages.tolist() == pytest.approx([0.75, 0.75])
    assert rec["offline_fraction"] == 0.25
    # one Σ / max_len over the mixed batch (official loss_remove_token_mean), divided by the
    # 6 + 2 sequences of the step: off-policy tokens −0.75 · π/(π + γ), on-policy tokens
    # −(−0.25) · r with r = 1 at step 0 (unclipped); max_len = 8
    logp, _, mask = demo[0]
    pi = logp.exp()
    want_off = float((-0.75 * pi / (pi + gamma) * mask).sum()) / (8 * 8)
    assert rec["off_loss"] == pytest.approx(want_off, rel=1e-4)  # γ enters through f(π)
    n_rollout_tokens = float(data.rollouts.completion_mask.sum())
    assert rec["pg_loss"] == pytest.approx(0.25 * n_rollout_tokens / (8 * 8), rel=1e-5)
    assert rec["off_loss"] < 0 and rec["grad_norm"] > 0  # the shaped demo term pulls up π(τ*)


def test_srft_has_three_entropy_weighted_terms(tmp_path):
    t = make_trainer(tmp_path, "srft", "always_zero", old_logprobs="sampling")  # sampler log-probs as the oracle
    demo = []
    seen = spy_plans(t, lambda data: demo.append(demo_logprobs(t, data.rows)))
    rec = t.step(0)
    ro = seen[0][1].rollouts
    assert ro.num_samples == 2 * 3  # official group: n − 1 rollouts + the demonstration
    logp, ent, mask = demo[0]
    # every rollout is negative: weight −1, detached denominator -> per-token loss −(−1)·log π;
    # rollouts and demonstrations share one Σ / max_len over 6 + 2 sequences (max_len 8)
    assert rec["pg/srft_weight_mean"] == -1.0
    want_pg = float((ro.logprobs * ro.completion_mask).sum()) / (8 * 8)
    assert rec["pg_loss"] == pytest.approx(want_pg, rel=1e-4)
    # SFT on τ*: token mean of 0.5·exp(−H_i)·(−log π), H_i the mean entropy of demonstration i
    h = (ent * mask).sum(1) / mask.sum(1)  # (2,)
    w = 0.5 * torch.exp(-h)
    want_sft = float((w[:, None] * -logp * mask).sum() / mask.sum())
    # precondition: one batch-level H (the SRFT paper's scalar) would give a different loss
    # (the tiny model's entropies are close, ≈ 3.59 and 3.65, so the gap is ≈ 2e-5 relative)
    h_batch = (ent * mask).sum() / mask.sum()
    batch_sft = float((0.5 * torch.exp(-h_batch) * -logp * mask).sum() / mask.sum())
    assert abs(batch_sft - want_sft) > 1e-5 * abs(want_sft)
    assert rec["sft_loss"] == pytest.approx(want_sft, rel=1e-6)
    # off-policy RL on τ*: A* = 1 − mean{0, 0, 0, 1} = 0.75, −A* π/(π + 0.1), same Σ / (8 · 8)
    pi = logp.exp()
    assert rec["off_loss"] == pytest.approx(float((-0.75 * pi / (pi + 0.1) * mask).sum()) / 64, rel=1e-4)
    assert rec["srft/num_neg"] == 6 and rec["sft_fraction"] == pytest.approx(2 / 8)


# --- Auto ----------------------------------------------------------------------------------


@pytest.mark.parametrize("reward,decision,method", [("always_zero", "sparse", "hpt"), ("always_one", "dense", "grpo")])
def test_auto_probes_then_delegates(tmp_path, reward, decision, method):
    recs = run(make_trainer(tmp_path, "auto", reward, **PROBE))
    assert [r["auto/method"] for r in recs] == ["probing", method, method]
    assert recs[1]["switch_decision"] == decision and recs[1]["auto/reason"].startswith(decision)
    assert [r["sft_fraction"] for r in recs[:2]] == [0.0, 0.0]
    if decision == "sparse":  # HPT with every rollout wrong: all SFT
        assert recs[2]["hpt/num_sft"] == 2 and recs[2]["sft_fraction"] == 1.0 and recs[2]["sft_loss"] > 0
    else:
        assert "sft_loss" not in recs[2] and "hpt/num_sft" not in recs[2]


# --- resume through the real loop ----------------------------------------------------------

SMALL = dict(group_size=2, max_new_tokens=4)  # 12 steps per test: keep each one cheap
RESUME = {
    "hpt": dict(reward="even_answer", **SMALL),
    "superrl": dict(reward="always_zero", **PROBE, **SMALL),  # the probe ends at step 1, hybrid from 2
    "sasr": dict(reward="even_length", sasr_warmup_steps=2, **SMALL),
}


@pytest.mark.parametrize("method", [
    "superrl",  # the hardest case by default: learnable weights and a phase change before the cut
    pytest.param("hpt", marks=pytest.mark.slow),  # 12 steps each; every controller's state
    pytest.param("sasr", marks=pytest.mark.slow),  # round-trip is also in test_resume.py
])
def test_resume_equals_uninterrupted(tmp_path, method):
    """6 steps == 3 steps + checkpoint + resume for 3 more: weights, rewards and the
    controller's logged state."""
    kw = dict(RESUME[method])
    full = Trainer(make_cfg(tmp_path / "full", method, steps=6, **kw))
    full.run()
    Trainer(make_cfg(tmp_path / "part", method, steps=3, **kw)).run()
    resumed = Trainer(make_cfg(tmp_path / "part", method, steps=6, **kw), resume=tmp_path / "part" / method)
    assert resumed.start_step == 3
    resumed.run()
    wf, wr = weights(full.model), weights(resumed.model)
    for k in wf:
        torch.testing.assert_close(wf[k], wr[k], atol=1e-6, rtol=0)

    def load(d):
        return [json.loads(l) for l in (d / method / "metrics.jsonl").read_text().splitlines()]

    a, b = load(tmp_path / "full"), load(tmp_path / "part")
    assert [r["step"] for r in b] == list(range(1, 7))  # metrics count steps completed (#14)
    keys = ("reward", "sft_fraction", "sft_loss", "pg_loss", "sasr_p", "sigma_pg", "sigma_sft", "switch_decision")
    for ra, rb in zip(a, b):
        for k in keys:
            assert (k in ra) == (k in rb), (ra["step"], k)
            if k in ra and isinstance(ra[k], float):
                assert rb[k] == pytest.approx(ra[k], rel=1e-5, abs=1e-7), (ra["step"], k)
            elif k in ra:
                assert rb[k] == ra[k], (ra["step"], k)
