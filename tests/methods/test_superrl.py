"""SuperRL: Adaptive Switch (§3.3, Table 7) and the Hybrid Actor (§3.2, D.6)."""

import math

import pytest
import torch

from hybridrl.methods.base import Feedback
from hybridrl.methods.superrl import AdaptiveSwitch, SuperRLController
from methods_test_helpers import ctx, make_batch, make_config, make_rows, terms_by_name

# SuperRL Table 7 (Qwen2.5-1.5B, GRPO, batch 256 -> k = 10, m = 10, thresholds 3 and 0.1)
GSM8K = [0.0617, 0.0570, 0.0828, 0.1305, 0.1820, 0.2398, 0.3148, 0.3695, 0.4609, 0.4984]
HITAB = [0.0008, 0.0008, 0.0023, 0, 0, 0, 0, 0, 0, 0]


def feed(switch, series):
    for r in series:
        switch.record(r)
    return switch


def test_table7_gsm8k_is_dense():
    s = feed(AdaptiveSwitch(10, 10, 3, 0.1), GSM8K)
    # adjacent rises: step 2 falls (0.0570 < 0.0617), steps 3..10 rise -> 8 (the table says 10)
    assert s.increase_num == 8
    # (0.0617 + 0.0570 + ... + 0.4984) / 10 = 2.3974 / 10 (the table says 0.2397)
    assert s.recent_avg == pytest.approx(0.23974, abs=1e-9)
    assert s.decision == "dense"  # 8 >= 3 (and 0.2397 >= 0.1)
    assert "dense" in s.reason() and "increase_num >= 3" in s.reason()


def test_table7_hitab_is_sparse():
    s = feed(AdaptiveSwitch(10, 10, 3, 0.1), HITAB)
    # one rise (0.0008 -> 0.0023), as in the table
    assert s.increase_num == 1
    # (0.0008 + 0.0008 + 0.0023) / 10 = 0.00039 (the table prints 0.0031)
    assert s.recent_avg == pytest.approx(0.00039, abs=1e-12)
    assert s.decision == "sparse"  # 1 < 3 and 0.00039 < 0.1
    assert s.reason().startswith("sparse")


def test_decides_exactly_after_k_steps_and_then_ignores_rewards():
    s = AdaptiveSwitch(3, 2, 1, 0.5)
    assert s.record(0.0) is None and s.record(0.0) is None and not s.decided
    assert s.record(0.0) == "sparse"  # 0 rises < 1 and mean(0, 0) < 0.5
    s.record(1.0)
    assert s.rewards == [0.0, 0.0, 0.0] and s.decision == "sparse"


def test_small_batch_defaults_rising_and_flat_series():
    cfg = make_config(prompts_per_step=32)  # not > 32 -> k=50, m=10, thresholds 20 and 0.2
    s = AdaptiveSwitch.from_config(cfg)
    assert (s.k, s.m, s.increase_threshold, s.avg_threshold) == (50, 10, 20, 0.2)
    # slowly rising but still low reward: 49 rises >= 20 -> dense although recent_avg < 0.2
    rising = feed(AdaptiveSwitch.from_config(cfg), [0.001 * t for t in range(50)])
    assert rising.increase_num == 49 and rising.recent_avg == pytest.approx(0.0445)
    assert rising.decision == "dense"
    # flat near zero with noise: rises at every other step (24 of them) -> dense, by the count alone
    zigzag = feed(AdaptiveSwitch.from_config(cfg), [0.01 * (t % 2) for t in range(50)])
    assert zigzag.increase_num == 25 and zigzag.decision == "dense"
    # flat near zero: 0 rises, recent_avg 0.001 -> sparse
    flat = feed(AdaptiveSwitch.from_config(cfg), [0.001] * 50)
    assert flat.increase_num == 0 and flat.decision == "sparse"
    # high but flat reward: no rises, recent_avg 0.5 >= 0.2 -> dense (both conditions needed)
    high = feed(AdaptiveSwitch.from_config(cfg), [0.5] * 50)
    assert high.decision == "dense"


def test_large_batch_defaults_and_overrides():
    s = AdaptiveSwitch.from_config(make_config(prompts_per_step=64))
    assert (s.k, s.m, s.increase_threshold, s.avg_threshold) == (10, 10, 3, 0.1)
    s = AdaptiveSwitch.from_config(make_config(prompts_per_step=64, superrl_k=4, superrl_avg_threshold=0.5))
    assert (s.k, s.m, s.increase_threshold, s.avg_threshold) == (4, 10, 3, 0.5)


def superrl(variant="logsigma", k=2, **opts):
    # thresholds chosen so that a zero-reward probe is sparse
    return SuperRLController(make_config(superrl_variant=variant, superrl_k=k, superrl_m=2,
                                         superrl_increase_threshold=1, superrl_avg_threshold=0.5, **opts))


def probe(c, steps, reward=0.0):
    rows = make_rows(2)
    for s in range(steps):
        [u] = c.plan(ctx(s), make_batch(rows, [[0] * 4, [0] * 4], batch_reward_mean=reward))
        assert [t.name for t in u.terms] == ["pg"] and u.terms[0].preset == "grpo"
        # probing: plain RL, unit weights, no regularizer
        assert u.weighting.weight("pg") == 1.0 and u.weighting.regularizer() is None


def hybrid_step(c, step=2):
    return c.plan(ctx(step), make_batch(make_rows(2), [[0] * 4, [1] * 4]))


def test_probe_then_hybrid_actor():
    c = superrl()
    assert c.metrics()["switch_decision"] == "probing"
    probe(c, 2)
    assert c.metrics()["switch_decision"] == "sparse"
    rows = make_rows(2, demos=[True, False])
    [u] = c.plan(ctx(2), make_batch(rows, [[1, 0, 0, 0], [0] * 4]))
    t = terms_by_name(u)
    assert u.kind == "hybrid" and set(t) == {"pg", "sft"}
    assert t["sft"].indices.tolist() == [0] and t["sft"].source == "demo"
    # GRPO advantages from the rl_preset over prompt 0's group: (1 - 0.25) / std
    assert t["pg"].advantages[0] > 0 and t["pg"].advantages[4:].tolist() == [0.0] * 4
    m = c.metrics()
    assert m["sigma_pg"] == m["sigma_sft"] == 1.0 and m["superrl/phase"] == "hybrid"
    # sample-level: 1 demonstration / (1 + 8 rollouts) ; prompt share 1 of 2 rows
    assert m["sft_fraction"] == pytest.approx(1 / 9) and m["sft_prompt_share"] == 0.5


def test_dense_probe_keeps_vanilla_rl():
    c = superrl()
    probe(c, 2, reward=0.9)  # recent_avg 0.9 >= 0.5 -> dense
    assert c.metrics()["switch_decision"] == "dense"
    [u] = c.plan(ctx(2), make_batch(make_rows(2), [[0] * 4, [0] * 4]))
    assert [t.name for t in u.terms] == ["pg"] and u.weighting.regularizer() is None


def test_log_sigma_gradients_follow_the_formula():
    c = superrl()
    params = c.parameters()
    assert params == [c.s_pg, c.s_sft]  # exist before the probe: the optimizer is built once
    probe(c, 2)
    [u] = hybrid_step(c)
    w = u.weighting
    # the loop asks for the weights afresh for every micro-batch and backpropagates each
    L_pg, L_sft = 1.0, 2.0
    for part in (0.25, 0.75):
        (w.weight("pg") * (L_pg * part)).backward()
    (w.weight("sft") * L_sft).backward()
    w.regularizer().backward()
    # L = e^{-2 s_pg} L_pg + e^{-2 s_sft} L_sft + s_pg + s_sft, at s = 0:
    # dL/ds_pg  = -2 e^0 * 1 + 1 = -1;  dL/ds_sft = -2 e^0 * 2 + 1 = -3
    assert c.s_pg.grad.item() == pytest.approx(-1.0)
    assert c.s_sft.grad.item() == pytest.approx(-3.0)
    # one SGD step (lr 0.1) moves both up: s_pg = 0.1, s_sft = 0.3, i.e. the weights shrink
    torch.optim.SGD(params, lr=0.1).step()
    c.observe(ctx(2), Feedback(kind="hybrid", grad_norm=1.0))  # inside the bound: unchanged
    assert c.s_pg.item() == pytest.approx(0.1) and c.s_sft.item() == pytest.approx(0.3)
    assert float(w.weight("pg").detach()) == pytest.approx(math.exp(-0.2))
    assert c.metrics()["sigma_sft"] == pytest.approx(math.exp(0.3))


def test_log_sigma_gradient_matches_autograd_reference():
    c = superrl(superrl_init_s_pg=0.3, superrl_init_s_sft=-0.2)
    probe(c, 2)
    [u] = hybrid_step(c)
    w = u.weighting
    (w.weight("pg") * 1.7 + w.weight("sft") * 0.4 + w.regularizer()).backward()
    s = torch.tensor([0.3, -0.2], requires_grad=True)
    (torch.exp(-2 * s[0]) * 1.7 + torch.exp(-2 * s[1]) * 0.4 + s.sum()).backward()
    assert [c.s_pg.grad.item(), c.s_sft.grad.item()] == pytest.approx(s.grad.tolist(), rel=1e-6)


def test_guard_bounds_s_pg_when_the_pg_surrogate_is_zero():
    # L_pg ≈ 0 (GRPO surrogate at ratio 1): dL/ds_pg = 1 - 2 e^{-2 s_pg} * 0 = 1 for ever, so
    # unguarded AdamW lowers s_pg by ≈ lr every step. With lr 0.1 and bound 1.15: after 11 steps
    # s_pg ≈ -1.1, the 12th step would give -1.2 and is projected back to -1.15;
    # the PG weight stops at e^{2.3} = 9.974 instead of growing as e^{0.2 t}.
    c = superrl()
    probe(c, 2)
    opt = torch.optim.AdamW(c.parameters(), lr=0.1, weight_decay=0.0)
    for step in range(30):
        [u] = hybrid_step(c, 2 + step)
        opt.zero_grad()
        w = u.weighting
        (w.weight("pg") * 0.0 + w.weight("sft") * 1.0 + w.regularizer()).backward()
        opt.step()
        c.observe(ctx(2 + step), Feedback(kind="hybrid", grad_norm=1.0))
    assert c.s_pg.item() == pytest.approx(-1.15)
    assert float(u.weighting.weight("pg").detach()) == pytest.approx(math.exp(2.3), rel=1e-6)
    # s_sft settles at its optimum 0.5 ln(2 L_sft) = 0.5 ln 2 = 0.3466 (inside the box)
    assert abs(c.s_sft.item() - 0.5 * math.log(2.0)) < 0.1
    # inf bound = the paper's loss: s_pg keeps falling (≈ -0.1 per step: about -3 after 30)
    c = superrl(superrl_s_bound=float("inf"))
    probe(c, 2)
    opt = torch.optim.AdamW(c.parameters(), lr=0.1, weight_decay=0.0)
    for step in range(30):
        [u] = hybrid_step(c, 2 + step)
        opt.zero_grad()
        (u.weighting.weight("pg") * 0.0 + u.weighting.regularizer()).backward()
        opt.step()
        c.observe(ctx(2 + step), Feedback(kind="hybrid", grad_norm=1.0))
    assert c.s_pg.item() < -2.9


def test_guard_rejects_bad_bounds():
    with pytest.raises(ValueError, match="superrl_s_bound"):
        superrl(superrl_s_bound=0.0)
    with pytest.raises(ValueError, match="outside"):
        superrl(superrl_init_s_sft=2.0)


def test_theta_variant():
    c = superrl("theta")
    assert c.parameters() == [c.alpha]
    probe(c, 2)
    [u] = hybrid_step(c)
    w = u.weighting
    assert float(w.weight("pg").detach()) == 0.5 and float(w.weight("sft").detach()) == 0.5  # sigmoid(0)
    assert w.regularizer() is None
    # L = w L_pg + (1 - w) L_sft, dL/dα = w (1 - w) (L_pg - L_sft) = 0.25 * (1 - 2) = -0.25
    (w.weight("pg") * 1.0).backward()
    (w.weight("sft") * 2.0).backward()
    assert c.alpha.grad.item() == pytest.approx(-0.25)
    assert c.metrics()["theta"] == 0.0 and c.metrics()["w_pg"] == 0.5


def test_per_step_variant_two_updates():
    c = superrl("per_step")
    assert c.parameters() == [c.s_sft]
    probe(c, 2)
    rl, sft = hybrid_step(c)
    assert (rl.kind, [t.name for t in rl.terms]) == ("rl", ["pg"])
    assert (sft.kind, [t.name for t in sft.terms]) == ("sft", ["sft"])
    # first update: unweighted RL, no regularizer; second: e^{-2 s_sft} L_sft + s_sft
    assert rl.weighting.weight("pg") == 1.0 and rl.weighting.regularizer() is None
    assert float(sft.weighting.weight("sft").detach()) == 1.0
    sft.weighting.regularizer().backward()
    assert c.s_sft.grad.item() == 1.0  # d s_sft / d s_sft


def test_load_state_keeps_parameter_objects():
    a = superrl()
    probe(a, 2)
    with torch.no_grad():
        a.s_pg.fill_(0.7)
    b = superrl()
    p_before = b.parameters()
    b.load_state_dict(a.state_dict())
    assert b.parameters()[0] is p_before[0] and b.s_pg.item() == pytest.approx(0.7)
    assert b.metrics()["switch_decision"] == "sparse"


def test_bad_variant():
    with pytest.raises(ValueError):
        superrl("bogus")


# --- the Adaptive Switch's reason, word for word -------------------------------------

def test_adaptive_switch_reason_names_the_rules_that_fired():
    def switch(rewards):
        sw = AdaptiveSwitch(k=3, m=2, increase_threshold=2, avg_threshold=0.3)
        for r in rewards:
            sw.record(r)
        return sw.reason()

    assert switch([0.1]) == "probing after 1/3 probe steps: increase_num=0, recent_avg=0.1"
    # 2 rises (= the threshold), recent_avg (0.2 + 0.3) / 2 = 0.25 < 0.3: dense by the rises alone
    assert switch([0.1, 0.2, 0.3]) == "dense: after 3/3 probe steps: increase_num=2, recent_avg=0.25; increase_num >= 2"
    # 0 rises, recent_avg (0.3 + 0.3) / 2 = 0.3 (= the threshold): dense by the average alone
    assert switch([0.5, 0.3, 0.3]) == "dense: after 3/3 probe steps: increase_num=0, recent_avg=0.3; recent_avg >= 0.3"
    # both: 2 rises and (0.2 + 0.4) / 2 = 0.3
    assert switch([0.1, 0.2, 0.4]) == ("dense: after 3/3 probe steps: increase_num=2, recent_avg=0.3; "
                                       "increase_num >= 2 and recent_avg >= 0.3")


def test_uncertainty_weights_and_projection_edges():
    from hybridrl.methods.superrl import UncertaintyWeights, project_

    s = torch.nn.Parameter(torch.tensor(0.5))
    w = UncertaintyWeights({"pg": s})
    assert w.weight("off") == 1.0  # a term without a learnable weight weighs 1
    assert float(w.weight("pg").detach()) == pytest.approx(math.exp(-1.0))  # e^{-2·0.5}
    assert float(w.regularizer().detach()) == 0.5 and UncertaintyWeights({}).regularizer() is None
    high, low = torch.nn.Parameter(torch.tensor(5.0)), torch.nn.Parameter(torch.tensor(-5.0))
    project_([high, low], 2.0)  # onto |s| <= 2, both sides
    assert (high.item(), low.item()) == (2.0, -2.0)
