"""Auto: Adaptive Switch probe, then pure RL (dense) or auto_sparse_method (sparse)."""

import pytest

from hybridrl.methods.auto import AutoController
from hybridrl.methods.base import Feedback
from methods_test_helpers import ctx, demo_only, make_batch, make_config, make_rows, terms_by_name

PROBE = dict(superrl_k=3, superrl_m=2, superrl_increase_threshold=2, superrl_avg_threshold=0.3)


def run(c, rewards, start=0):
    """Probe steps with the given batch-mean rewards; returns the plans."""
    rows = make_rows(2)
    plans = []
    for i, r in enumerate(rewards):
        s = start + i
        needs = c.needs(ctx(s))
        data = make_batch(rows, [[1, 0, 0, 0], [0, 0, 0, 0]], batch_reward_mean=r) if needs.rollouts \
            else demo_only(rows)
        plans.append(c.plan(ctx(s), data))
        for u in plans[-1]:
            c.observe(ctx(s), Feedback(kind=u.kind, grad_norm=2.0))
    return plans


def test_dense_picks_pure_rl():
    c = AutoController(make_config(**PROBE))
    plans = run(c, [0.1, 0.2, 0.4])  # 2 rises >= 2 -> dense
    assert all([t.preset for t in p[0].terms] == ["grpo"] for p in plans)
    m = c.metrics()
    assert m["switch_decision"] == "dense" and m["auto/method"] == "grpo"
    assert m["auto/reason"].startswith("dense") and m["auto/reason"].endswith("-> grpo")
    [[u]] = run(c, [0.5], start=3)
    assert [t.preset for t in u.terms] == ["grpo"]


def test_sparse_picks_hpt():
    c = AutoController(make_config(**PROBE))
    assert c.metrics()["switch_decision"] == "probing" and c.metrics()["auto/method"] == "probing"
    plans = run(c, [0.0, 0.0, 0.01])  # 1 rise < 2 and recent_avg 0.005 < 0.3 -> sparse
    assert [[t.preset for t in p[0].terms] for p in plans] == [["grpo"]] * 3  # the probe is pure RL
    assert c.metrics()["switch_decision"] == "sparse"
    [[u]] = run(c, [0.0], start=3)
    t = terms_by_name(u)
    # HPT: prompt 1 has no correct rollout -> SFT; prompt 0 -> Dr. GRPO
    assert t["pg"].preset == "dr_grpo" and t["sft"].indices.tolist() == [1]
    m = c.metrics()
    # sample-level: 1 demonstration / (1 + 4 kept rollouts); 1 of 2 prompts gated
    assert m["auto/method"] == "hpt" and m["hpt/num_sft"] == 1 and m["sft_fraction"] == 0.2
    assert m["sft_prompt_share"] == 0.5
    assert m["auto/reason"] == ("sparse: after 3/3 probe steps: increase_num=1, recent_avg=0.005; "
                                "increase_num < 2 and recent_avg < 0.3 -> hpt")


def test_sparse_superrl_inherits_the_probe_and_owns_parameters_from_the_start():
    c = AutoController(make_config(auto_sparse_method="superrl_theta", **PROBE))
    params = c.parameters()
    assert params == [c.sparse.alpha]  # theta override applied to a copy of the config
    run(c, [0.0, 0.0, 0.0])
    [[u]] = run(c, [0.0], start=3)
    assert u.kind == "hybrid" and [t.name for t in u.terms] == ["pg", "sft"]  # no second probe
    # the delegate's weighting travels with its update: w_pg = sigmoid(α) = 0.5 at α = 0
    assert float(u.weighting.weight("pg").detach()) == 0.5
    assert c.parameters()[0] is params[0]


def test_sparse_sasr_warms_up_from_the_hand_over():
    c = AutoController(make_config(auto_sparse_method="sasr", sasr_warmup_steps=2, sasr_gamma=1e12, **PROBE))
    run(c, [0.0, 0.0, 0.0])
    kinds = [p[0].kind for p in run(c, [0.0] * 4, start=3)]
    assert kinds == ["sft", "sft", "rl", "rl"]  # steps 3, 4 are SASR's warm-up steps 0, 1


def test_rejects_auto_as_sparse_method():
    with pytest.raises(ValueError):
        AutoController(make_config(auto_sparse_method="auto"))


# --- what Auto reports while probing and on the step it decides ----------------------

def test_probe_metrics_until_the_hand_over():
    c = AutoController(make_config(**PROBE))
    probing = {"sft_fraction": 0.0, "switch_decision": "probing", "auto/increase_num": 0, "auto/recent_avg": 0.0,
               "auto/k": 3, "auto/increase_threshold": 2, "auto/avg_threshold": 0.3, "auto/method": "probing",
               "auto/reason": "probing after 0/3 probe steps: increase_num=0, recent_avg=0"}
    assert c.metrics() == probing
    run(c, [0.0, 0.0, 0.01])  # decided "sparse" (HPT) at the third plan; the hand-over is the next step
    m = c.metrics()
    assert m["sft_fraction"] == 0.0 and "hpt/num_sft" not in m  # still the probe's metrics
    assert m["auto/reason"].endswith(" -> hpt") and c.excluded_ids() == set()
    c.sparse._excluded = {"r1"}  # what HPT would exclude: reported only once HPT is active
    assert c.excluded_ids() == set()
    run(c, [0.0], start=3)
    assert c.excluded_ids() == {"r1"}


def test_build_method_applies_overrides_to_a_copy_and_passes_kwargs():
    from dataclasses import replace

    from hybridrl.methods.auto import build_method
    from hybridrl.config import TrainConfig

    cfg = replace(TrainConfig(), method="auto")
    theta = build_method(cfg, "superrl_theta")  # registry override superrl_variant=theta, on a copy
    assert theta.config.superrl_variant == "theta" and cfg.superrl_variant != "theta"
    assert build_method(cfg, "dr_grpo").preset == "dr_grpo"  # the registry's kwargs reach the class
    ns = make_config()
    assert build_method(ns, "superrl_theta").config.superrl_variant == "theta" and ns.superrl_variant != "theta"


def test_auto_hands_the_delegate_its_own_clock():
    from hybridrl.methods.base import Needs

    cfg = make_config(rl_preset="dr_grpo", **PROBE)
    c = AutoController(cfg)
    assert c.config is cfg and c.dense.config is cfg and c.dense.preset == "dr_grpo"
    [[u]] = run(c, [0.1])
    assert u.kind == "rl" and [(t.name, t.preset) for t in u.terms] == [("pg", "dr_grpo")]  # the probe
    run(c, [0.2, 0.4], start=1)  # dense
    seen = []
    c.dense.needs = lambda cx: (seen.append(cx), Needs())[1]
    c.dense.plan = lambda cx, data: (seen.append(cx), [])[1]
    c.needs(ctx(5, total=100))
    c.plan(ctx(5, total=100), demo_only(make_rows(1)))
    # the hand-over at step 5 of 100 is the delegate's step 0 of 95
    assert [(x.step, x.total_steps) for x in seen] == [(0, 95), (0, 95)]
