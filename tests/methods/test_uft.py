"""UFT controller alone (#26): the prefix plan per step (cosine, stage, uniform), the plan's
prefix term (which rows, how many tokens, weight β) from scripted prefix lengths."""

import pytest
import torch

from hybridrl.methods.uft import UFTController, hint_steps_of
from integration_helpers import demo_logprobs, make_trainer, run, spy_plans, terms
from methods_test_helpers import ctx, make_batch, make_config, make_rows, terms_by_name


def test_cosine_plan_follows_p_t_then_stops():
    c = UFTController(make_config(uft_hint_steps=300))
    probs = []
    for step in (0, 150, 300, 301):
        plan = c.needs(ctx(step)).demo_prefix
        assert plan.kind == "binomial" and plan.sections == 5
        probs.append(plan.prob)
    # 0.05 + 0.45(1 + cos(π t / 300)): t = 0 -> 0.95, 150 -> 0.5, 300 -> 0.05; after T_hint 0
    assert probs == pytest.approx([0.95, 0.5, 0.05, 0.0])
    assert c.needs(ctx(0)).demo_prefix.seed != c.needs(ctx(1)).demo_prefix.seed  # fresh draws each step


def test_stage_and_uniform_schedules():
    stage = UFTController(make_config(uft_schedule="stage", uft_hint_steps=300))
    # 5 − t // 50 sections (official --algo stage)
    assert [stage.needs(ctx(t)).demo_prefix.count for t in (0, 50, 299)] == [5, 4, 0]
    uni = UFTController(make_config(uft_schedule="uniform", uft_hint_steps=10))
    assert uni.needs(ctx(10)).demo_prefix.kind == "uniform" and uni.needs(ctx(11)).demo_prefix.count == 0


def test_hint_steps_default_is_sixty_percent_of_the_run():
    assert hint_steps_of(make_config(steps=500)) == 300  # official T_hint 300 of T = 500
    assert hint_steps_of(make_config(steps=100, uft_hint_steps=7)) == 7


def test_plan_trains_the_prefix_tokens_with_weight_beta():
    c = UFTController(make_config(uft_beta=0.001))
    rows = make_rows(3)
    data = make_batch(rows, [[1, 0], [0, 0], [0, 1]])
    data.rollouts.prefix_lengths = torch.tensor([4, 0, 9])  # prompt 1 got no prefix
    c.needs(ctx(0))
    (u,) = c.plan(ctx(0), data)
    by = terms_by_name(u)
    assert by["pg"].source == "rollout" and by["pg"].preset == "grpo" and len(by["pg"].indices) == 6
    assert by["prefix"].source == "demo" and by["prefix"].preset == "sft"
    assert by["prefix"].indices.tolist() == [0, 2] and by["prefix"].demo_lengths.tolist() == [4, 9]
    assert u.weighting.weight("prefix") == 0.001 and u.weighting.weight("pg") == 1.0  # L_GRPO + β·NLL(prefix)
    assert c.metrics()["uft/num_prefixed"] == 2


def test_bad_options_fail():
    with pytest.raises(ValueError, match="uft_schedule"):
        UFTController(make_config(uft_schedule="linear"))
    with pytest.raises(ValueError, match="uft_p_low"):
        UFTController(make_config(uft_p_low=0.9, uft_p_high=0.1))


# --- the real loop on the tiny model (integration) ---------------------------------------------


def test_uft_samples_from_demonstration_prefixes_and_trains_their_likelihood(tmp_path):
    # p_t ≡ 0.5: each of the 5 sections of a demonstration is given with probability ½
    t = make_trainer(tmp_path, "uft", uft_p_low=0.5, uft_p_high=0.5, uft_beta=0.5, uft_hint_steps=10,
                     old_logprobs="sampling")
    demo = []
    seen = spy_plans(t, lambda data: demo.append(demo_logprobs(t, data.rows)))
    recs = run(t, 2)
    for rec, (_, data, updates), (logp, _, mask) in zip(recs, seen, demo):
        ro = data.rollouts
        lengths = ro.prefix_lengths.tolist()
        full = [len(t.demo_ids(r)) - 1 for r in data.rows]  # without the EOS
        for p, row in enumerate(data.rows):  # the prompt each rollout continues: prompt + τ*[:L]
            assert ro.prompt_ids[p] == t.prompt_ids(row) + t.demo_ids(row)[: lengths[p]]
        assert rec["prefix_fraction"] == pytest.approx(sum(l / n for l, n in zip(lengths, full)) / len(full))
        # the prefix term: token-mean NLL of the first L_p demonstration tokens of the prompts with a prefix
        cut = torch.zeros_like(mask)
        for p, n in enumerate(lengths):
            cut[p, :n] = 1.0
        assert rec["prefix_loss"] == pytest.approx(float(-(logp * cut).sum() / cut.sum().clamp(min=1)), rel=1e-5)
        assert rec["loss"] == pytest.approx(rec["pg_loss"] + 0.5 * rec["prefix_loss"], rel=1e-6, abs=1e-9)
        assert terms(updates)["prefix"].demo_lengths.tolist() == [n for n in lengths if n > 0]
    # preconditions: a partial prefix occurred (so the cut matters), and some prompt got one at all
    got = [l for (_, d, _) in seen for l in d.rollouts.prefix_lengths.tolist()]
    ends = [len(t.demo_ids(r)) - 1 for (_, d, _) in seen for r in d.rows]
    assert any(0 < l < n for l, n in zip(got, ends)) and recs[0]["uft_hint_prob"] == 0.5
    # the verifier scored prefix + continuation: the texts of a prefixed prompt start with its prefix
    _, data, _ = seen[0]
    p = next(i for i, n in enumerate(data.rollouts.prefix_lengths.tolist()) if n > 0)
    head = t.tokenizer.decode(t.demo_ids(data.rows[p])[: int(data.rollouts.prefix_lengths[p])],
                              skip_special_tokens=True)
    i = data.rollouts.prompt_index.tolist().index(p)
    assert data.rollouts.texts[i].startswith(head)
