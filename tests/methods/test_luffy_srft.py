"""LUFFY (demonstrations in the group, shared advantages) and SRFT (three terms every step)."""

import pytest
import torch

from hybridrl.methods.luffy import LUFFYController, luffy_advantages
from hybridrl.methods.srft import SRFTController
from methods_test_helpers import ctx, make_batch, make_config, make_rows, terms_by_name

# n = 8, n_off = 1 -> 7 rollouts per prompt
ON = [
    [1, 0, 0, 0, 0, 0, 0],  # 1 of 7 correct
    [0, 0, 0, 0, 0, 0, 0],  # none correct
]


def luffy_plan(correct=ON, demos=True, **opts):
    c = LUFFYController(make_config(**opts))
    rows = make_rows(len(correct), demos=demos)
    [u] = c.plan(ctx(0), make_batch(rows, correct))
    return c, u


def test_luffy_asks_for_n_minus_n_off_rollouts():
    assert LUFFYController(make_config()).needs(ctx(0)).rollouts_per_prompt == 7
    n = LUFFYController(make_config(luffy_n_off=3)).needs(ctx(0))
    assert n.rollouts_per_prompt == 5
    with pytest.raises(ValueError):
        LUFFYController(make_config(luffy_n_off=8))


def test_luffy_group_is_on_union_off():
    c, u = luffy_plan()
    t = terms_by_name(u)
    assert (t["pg"].preset, t["pg"].source) == ("luffy_on_policy", "rollout")
    assert (t["off"].preset, t["off"].source) == ("luffy_off_policy", "demo")
    assert t["pg"].indices.tolist() == list(range(14))
    assert t["off"].indices.tolist() == [0, 1]  # one copy of each row's demonstration
    # prompt 0: rewards 1,0,0,0,0,0,0 + demo 1 -> mean 2/8 = 0.25 (no std)
    #   A_on = 0.75, -0.25 x6; A_demo = 1 - 0.25 = 0.75
    # prompt 1: rewards 0 x7 + demo 1 -> mean 1/8 = 0.125
    #   A_on = -0.125 x7; A_demo = 0.875
    assert t["pg"].advantages.tolist() == pytest.approx([0.75] + [-0.25] * 6 + [-0.125] * 7)
    assert t["off"].advantages.tolist() == pytest.approx([0.75, 0.875])
    assert c.metrics()["offline_fraction"] == pytest.approx(2 / 16)
    # one normaliser over the mixed batch (official loss_remove_token_mean): same group for both
    assert t["pg"].norm_group == t["off"].norm_group is not None


def test_luffy_on_policy_only_statistics():
    _, u = luffy_plan(luffy_adv_on_only=True)
    t = terms_by_name(u)
    # prompt 0: mean over the 7 rollouts = 1/7: A_on = 6/7, -1/7 x6; A_demo = 1 - 1/7 = 6/7
    # prompt 1: mean 0: A_on = 0 x7; A_demo = 1
    assert t["pg"].advantages.tolist() == pytest.approx([6 / 7] + [-1 / 7] * 6 + [0.0] * 7)
    assert t["off"].advantages.tolist() == pytest.approx([6 / 7, 1.0])


def test_luffy_two_demo_copies_and_missing_demo():
    c, u = luffy_plan(correct=[[1, 0, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0]], demos=[True, False], luffy_n_off=2)
    t = terms_by_name(u)
    assert t["off"].indices.tolist() == [0, 0]  # row 1 has no demonstration
    # prompt 0: 1 + 0 x5 + 1 + 1 -> mean 3/8: A_on = 0.625, -0.375 x5; A_demo = 0.625 (twice)
    # prompt 1: on-policy only, mean 2/6 = 1/3: A = 2/3, 2/3, -1/3 x4
    assert t["pg"].advantages.tolist() == pytest.approx([0.625] + [-0.375] * 5 + [2 / 3] * 2 + [-1 / 3] * 4)
    assert t["off"].advantages.tolist() == pytest.approx([0.625, 0.625])


def test_luffy_advantages_function_with_unequal_groups():
    a_on, a_off = luffy_advantages(torch.tensor([1.0, 0.0, 0.5]), torch.tensor([0, 0, 1]),
                                   torch.tensor([1.0]), torch.tensor([1]), num_groups=2)
    # group 0: {1, 0} -> mean 0.5; group 1: {0.5, demo 1} -> mean 0.75
    assert a_on.tolist() == pytest.approx([0.5, -0.5, -0.25]) and a_off.tolist() == pytest.approx([0.25])


def test_srft_terms_every_step():
    c = SRFTController(make_config())  # group_size 8
    n = c.needs(ctx(0))
    assert n.rollouts and n.rollouts_per_prompt == 7  # official group: 7 rollouts + 1 demonstration
    rows = make_rows(2, demos=[True, False])
    # partial credit 0.3 is not correct: SRFT's advantage is the binary reward
    data = make_batch(rows, [[1, 0, 0, 0], [0, 1, 1, 1]], rewards=[[1.0, 0.3, 0, 0], [0.0, 1.0, 1, 1]])
    [u] = c.plan(ctx(0), data)
    t = terms_by_name(u)
    assert set(t) == {"pg", "sft", "off"}
    assert (t["pg"].preset, t["pg"].source) == ("srft", "rollout")
    assert t["pg"].indices.tolist() == list(range(8))
    assert t["pg"].advantages.tolist() == [1.0, 0, 0, 0, 0, 1, 1, 1]
    assert (t["sft"].preset, t["sft"].source, t["sft"].indices.tolist()) == ("srft_sft", "demo", [0])
    assert t["sft"].advantages is None and t["sft"].seq_weights is None
    # off-policy term on the same demonstration: A* = 1 - mean{1, 0, 0, 0, τ* = 1} = 1 - 2/5 = 0.6
    assert (t["off"].preset, t["off"].source, t["off"].indices.tolist()) == ("srft_off_policy", "demo", [0])
    assert t["off"].advantages.tolist() == pytest.approx([0.6])
    # the two RL terms share one normaliser (official Σ / max_len over the mixed batch); SFT alone
    assert t["pg"].norm_group == t["off"].norm_group is not None and t["sft"].norm_group is None
    m = c.metrics()
    # sample-level: 1 demonstration / (1 + 8 rollouts); prompt share 1 of 2
    assert (m["srft/num_pos"], m["srft/num_neg"]) == (4, 4)
    assert m["sft_fraction"] == pytest.approx(1 / 9) and m["sft_prompt_share"] == 0.5
