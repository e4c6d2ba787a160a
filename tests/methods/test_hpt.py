"""HPT controller (HPT §3.4, Alg. 1, eq. 10-13; §5.4 variants)."""

import pytest
import torch

from hybridrl.methods.hpt import HPTController, feedback_coefficients
from methods_test_helpers import ctx, make_batch, make_config, make_rows, terms_by_name

# three prompts, n = 8 rollouts each: 0/8, 1/8 and 3/8 correct
CORRECT = [
    [0, 0, 0, 0, 0, 0, 0, 0],
    [1, 0, 0, 0, 0, 0, 0, 0],
    [1, 1, 0, 1, 0, 0, 0, 0],
]


def plan_hpt(correct=CORRECT, demos=True, **opts):
    c = HPTController(make_config(**opts))
    rows = make_rows(len(correct), demos=demos)
    [update] = c.plan(ctx(0), make_batch(rows, correct))
    return c, update


@pytest.mark.parametrize(
    "gamma, sft_rows, rl_rows",
    [
        (0, [0], [1, 2]),  # SFT only when no rollout is correct (HPT default for Qwen)
        (1, [0, 1], [2]),  # 1/8 correct is <= 1 -> SFT
        (2, [0, 1], [2]),  # 3/8 correct is > 2 -> RL (LLaMA setting)
    ],
)
def test_gate_counts_correct_rollouts(gamma, sft_rows, rl_rows):
    c, update = plan_hpt(hpt_gamma=gamma)
    t = terms_by_name(update)
    assert set(t) == {"pg", "sft"}
    assert t["sft"].source == "demo" and t["sft"].preset == "sft"
    assert t["sft"].indices.tolist() == sft_rows
    assert t["sft"].seq_weights.tolist() == [1.0] * len(sft_rows)  # β = 1 for gated prompts
    # rollouts of gated prompts are dropped; prompt p holds rollouts 8p .. 8p+7
    expected_pg = [8 * p + j for p in rl_rows for j in range(8)]
    assert t["pg"].preset == "dr_grpo" and t["pg"].source == "rollout"
    assert t["pg"].indices.tolist() == expected_pg
    assert t["pg"].seq_weights.tolist() == [1.0] * len(expected_pg)  # α = 1
    m = c.metrics()
    assert m["sft_fraction"] == pytest.approx(len(sft_rows) / 3)
    assert m["hpt/num_sft"] == len(sft_rows) and m["hpt/num_rl"] == len(rl_rows)


def test_dr_grpo_advantages_within_the_group():
    _, update = plan_hpt(hpt_gamma=0)
    adv = terms_by_name(update)["pg"].advantages
    # prompt 1: 1 of 8 correct -> mean 0.125: A = 0.875 for the correct one, -0.125 otherwise (no std)
    assert adv[:8].tolist() == pytest.approx([0.875] + [-0.125] * 7, abs=1e-7)
    # prompt 2: 3 of 8 -> mean 0.375: A = 0.625 / -0.375
    assert adv[8:].tolist() == pytest.approx([0.625, 0.625, -0.375, 0.625, -0.375, -0.375, -0.375, -0.375], abs=1e-7)


def test_all_solved_and_all_failed_batches():
    _, update = plan_hpt(correct=[[1] * 8, [1] * 8])
    t = terms_by_name(update)
    assert t["sft"].indices.tolist() == [] and len(t["pg"].indices) == 16
    assert update.kind == "rl"
    c, update = plan_hpt(correct=[[0] * 8, [0] * 8])
    t = terms_by_name(update)
    assert t["sft"].indices.tolist() == [0, 1] and t["pg"].indices.tolist() == []
    assert update.kind == "sft" and c.metrics()["sft_fraction"] == 1.0


def test_feedback_functions():
    count, n = torch.tensor([0.0, 1.0, 3.0, 8.0]), torch.full((4,), 8.0)
    a, b = feedback_coefficients(count, n, 1, "switch")
    assert a.tolist() == [0.0, 0.0, 1.0, 1.0] and b.tolist() == [1.0, 1.0, 0.0, 0.0]
    a, b = feedback_coefficients(count, n, 1, "linear")  # α = P, β = 1 - P; γ unused
    assert a.tolist() == [0.0, 0.125, 0.375, 1.0] and b.tolist() == [1.0, 0.875, 0.625, 0.0]
    with pytest.raises(ValueError):
        feedback_coefficients(count, n, 0, "nope")


def test_linear_feedback_weights_both_terms():
    c, update = plan_hpt(hpt_alpha_fn="linear")
    t = terms_by_name(update)
    # prompt 0 (P = 0) has α = 0: its rollouts are dropped; β = 1, 0.875, 0.625
    assert t["pg"].indices.tolist() == list(range(8, 24))
    assert t["pg"].seq_weights.tolist() == [0.125] * 8 + [0.375] * 8
    assert t["sft"].indices.tolist() == [0, 1, 2]
    assert t["sft"].seq_weights.tolist() == [1.0, 0.875, 0.625]
    assert c.metrics()["sft_fraction"] == pytest.approx((1 + 0.875 + 0.625) / 3)


def test_off_and_mix_variants():
    c, update = plan_hpt(hpt_variant="off", hpt_gamma=1)
    t = terms_by_name(update)
    assert set(t) == {"pg", "off"}
    assert t["off"].preset == "luffy_off_policy" and t["off"].source == "demo"
    assert t["off"].indices.tolist() == [0, 1]
    assert t["off"].advantages.tolist() == [1.0, 1.0]  # the demo's one-sample group: A = R(τ*) = 1
    assert c.loss_weights() == {}
    c, update = plan_hpt(hpt_variant="mix", hpt_gamma=1)
    t = terms_by_name(update)
    assert set(t) == {"pg", "sft", "off"}
    assert t["sft"].indices.tolist() == t["off"].indices.tolist() == [0, 1]
    assert c.loss_weights() == {"sft": 0.1}  # 0.1 · SFT + 1.0 · off-policy (§5.4)


def test_gated_prompt_without_demonstration_stays_on_rl():
    _, update = plan_hpt(demos=[False, True, True], hpt_gamma=1)
    t = terms_by_name(update)
    assert t["sft"].indices.tolist() == [1]  # prompt 0 has no τ*
    assert t["pg"].indices.tolist() == list(range(0, 8)) + list(range(16, 24))
    # prompt 0's rollouts all failed: Dr. GRPO advantages are 0, so it contributes nothing
    assert t["pg"].advantages[:8].tolist() == [0.0] * 8


def test_removal_of_sft_ed_questions_and_group_accuracy():
    c, _ = plan_hpt(hpt_gamma=1)
    assert c.excluded_ids() == set()  # off by default
    c, _ = plan_hpt(hpt_gamma=1, hpt_remove_sft_solved=True)
    assert c.excluded_ids() == {"r0", "r1"}
    assert c.metrics()["hpt/num_excluded"] == 2
    assert c.last_group_accuracy() == {"r0": 0.0, "r1": 0.125, "r2": 0.375}
    # exclusions accumulate over steps
    rows = make_rows(3)
    rows[2].id = "r9"
    c.plan(ctx(1), make_batch(rows, [[1] * 8, [1] * 8, [0] * 8]))
    assert c.excluded_ids() == {"r0", "r1", "r9"}


def test_needs_rollouts_and_demos_and_rejects_bad_options():
    c = HPTController(make_config())
    n = c.needs(ctx(0))
    assert n.rollouts and n.demos and n.rollouts_per_prompt is None
    with pytest.raises(ValueError):
        HPTController(make_config(hpt_variant="bogus"))
    with pytest.raises(ValueError):
        HPTController(make_config(hpt_alpha_fn="bogus"))
