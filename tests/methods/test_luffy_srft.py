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


# --- edges the mutation run found unpinned -------------------------------------------

def test_luffy_advantages_keep_each_side_dtype():
    # on float32, off float64: the on-policy advantages stay float32, the demonstrations' float64
    # (a float64 demo reward must not promote the whole group to float64, nor the reverse)
    on, off = torch.tensor([1.0, 0.0]), torch.tensor([1.0], dtype=torch.float64)
    g_on, g_off = torch.tensor([0, 0]), torch.tensor([0])
    for on_only in (False, True):
        a_on, a_off = luffy_advantages(on, g_on, off, g_off, num_groups=1, on_only=on_only)
        assert (a_on.dtype, a_off.dtype) == (torch.float32, torch.float64)
    # and the other way round (on float64, off float32)
    a_on, a_off = luffy_advantages(on.double(), g_on, off.float(), g_off, num_groups=1, on_only=True)
    assert (a_on.dtype, a_off.dtype) == (torch.float64, torch.float32)
    # group {1, 0} ∪ τ*: mean 2/3 -> A_on = 1/3, -2/3; A_off = 1/3; on_only: mean 1/2 -> A_off = 0.5
    assert a_off.tolist() == pytest.approx([0.5])


def test_luffy_on_only_mean_of_a_one_rollout_group():
    # group 0 has one rollout (R = 0.5) -> its mean is 0.5 / 1 (not / 2): A_off = 1 - 0.5 = 0.5;
    # group 1 has no rollout: mean 0 -> A_off = 1
    a_on, a_off = luffy_advantages(torch.tensor([0.5]), torch.tensor([0]), torch.tensor([1.0, 1.0]),
                                   torch.tensor([0, 1]), num_groups=2, on_only=True)
    assert a_on.tolist() == [0.0] and a_off.tolist() == pytest.approx([0.5, 1.0])


def test_luffy_without_demo_copies_and_bad_n_off():
    cfg = make_config(luffy_n_off=0)
    c = LUFFYController(cfg)  # n_off = 0 is allowed: plain Dr. GRPO on the full group
    assert c.config is cfg and c.needs(ctx(0)).rollouts_per_prompt == 8
    [u] = c.plan(ctx(0), make_batch(make_rows(2), [[1, 0], [1, 1]]))
    t = terms_by_name(u)
    assert t["off"].indices.tolist() == [] and t["off"].indices.dtype == torch.long
    assert t["pg"].advantages.tolist() == [0.5, -0.5, 0.0, 0.0]  # R - group mean, no demonstration
    assert u.kind == "hybrid" and c.metrics() == {"offline_fraction": 0.0, "luffy/num_off": 0}
    # no row has a demonstration: an empty (long) off-policy term
    _, u = luffy_plan(correct=[[1, 0]], demos=False)
    assert terms_by_name(u)["off"].indices.dtype == torch.long and terms_by_name(u)["off"].indices.tolist() == []
    for bad in (-1, 8):
        with pytest.raises(ValueError, match=rf"^luffy_n_off must be in \[0, group_size\) \(got {bad}, group_size=8\)$"):
            LUFFYController(make_config(luffy_n_off=bad))


def test_luffy_metrics_and_empty_step():
    c, u = luffy_plan(correct=[[1, 0, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0]], demos=[True, False], luffy_n_off=2)
    # 12 rollouts + 2 copies of row 0's demonstration: 2 / 14
    assert u.kind == "hybrid" and c.metrics() == {"offline_fraction": pytest.approx(2 / 14), "luffy/num_off": 2}
    # a step with no rollout and no demonstration reports 0, not 0 / 0
    c = LUFFYController(make_config())
    c.plan(ctx(0), make_batch(make_rows(1, demos=False), [[]]))
    assert c.metrics() == {"offline_fraction": 0.0, "luffy/num_off": 0}


def test_luffy_and_srft_refuse_a_step_without_rewards():
    data = make_batch(make_rows(1), [[1, 0]])
    for c, field in ((LUFFYController(make_config()), "rewards"), (SRFTController(make_config()), "correct")):
        setattr(data, field, None)
        with pytest.raises(AssertionError):
            c.plan(ctx(0), data)
        data = make_batch(make_rows(1), [[1, 0]])


def test_srft_group_sizes_and_counts():
    cfg = make_config(group_size=2)
    c = SRFTController(cfg)
    assert c.config is cfg and c.needs(ctx(0)).rollouts_per_prompt == 1  # 2 - 1 (not a floor of 2)
    assert SRFTController(make_config(group_size=1)).needs(ctx(0)).rollouts_per_prompt == 1  # floor 1
    # 3 rollouts: 1 correct, 2 wrong
    c = SRFTController(make_config())
    [u] = c.plan(ctx(0), make_batch(make_rows(1), [[1, 0, 0]]))
    assert u.kind == "hybrid"
    # 1 demonstration / (1 + 3 rollouts); 1 prompt of 1 has a demonstration
    assert c.metrics() == {"sft_fraction": 0.25, "sft_prompt_share": 1.0, "srft/num_pos": 1, "srft/num_neg": 2}
    # one row with a demonstration and no rollout: 1 / 1 (not 1 / 2) for both shares
    c.plan(ctx(0), make_batch(make_rows(1), [[]]))
    assert c.metrics() == {"sft_fraction": 1.0, "sft_prompt_share": 1.0, "srft/num_pos": 0, "srft/num_neg": 0}
