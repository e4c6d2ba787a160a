"""Rollout/training mismatch metrics and truncated importance-sampling weights, by hand."""

import math

import pytest
import torch

from hybridrl.rollout.correction import logprob_mismatch, rollout_is_weights

LN = math.log


def test_mismatch_mean_and_max_over_real_tokens_only():
    train = torch.tensor([[-1.0, -2.0, -3.0], [-0.5, -0.25, -9.0]])
    rollout = torch.tensor([[-1.5, -2.0, -2.0], [-0.5, -0.75, 0.0]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    out = logprob_mismatch(train, rollout, mask)
    # |Δ| on real tokens: 0.5, 0, 1, 0, 0.5 (the padded 9.0 is ignored) -> mean 2/5, max 1
    assert out == {"mean": pytest.approx(0.4), "max": pytest.approx(1.0), "tokens": 5.0}
    assert logprob_mismatch(train, rollout, torch.zeros_like(mask)) == {"mean": 0.0, "max": 0.0, "tokens": 0.0}


def test_token_truncate_caps_the_ratio_at_c():
    # ratios pi_train / pi_rollout: e^0 = 1, e^ln(1.5) = 1.5, e^ln(4) = 4 -> capped to 2, e^-ln2 = 0.5
    train = torch.tensor([[LN(0.3), LN(0.6), LN(0.8), LN(0.1)]])
    rollout = torch.tensor([[LN(0.3), LN(0.4), LN(0.2), LN(0.2)]])
    mask = torch.ones(1, 4)
    w, m = rollout_is_weights(train, rollout, mask, cap=2.0, mode="token_truncate")
    torch.testing.assert_close(w, torch.tensor([[1.0, 1.5, 2.0, 0.5]]), atol=1e-6, rtol=0)
    # mean weight (1 + 1.5 + 2 + 0.5) / 4 = 1.25; one token of 4 capped
    assert m["is_weight_mean"] == pytest.approx(1.25, abs=1e-6)
    assert m["is_clipped_frac"] == pytest.approx(0.25)


def test_token_mask_zeroes_ratios_above_c_only():
    # ratios 1, 1.5, 4 (> 2: masked), 0.25 (small ratios are kept, as TRL without clip_min), 0.6
    train = torch.tensor([[LN(0.3), LN(0.6), LN(0.8), LN(0.05), LN(0.3)]])
    rollout = torch.tensor([[LN(0.3), LN(0.4), LN(0.2), LN(0.2), LN(0.5)]])
    w, m = rollout_is_weights(train, rollout, torch.ones(1, 5), cap=2.0, mode="token_mask")
    torch.testing.assert_close(w, torch.tensor([[1.0, 1.5, 0.0, 0.25, 0.6]]), atol=1e-6, rtol=0)
    assert m["is_clipped_frac"] == pytest.approx(1 / 5)
    assert m["is_weight_mean"] == pytest.approx((1 + 1.5 + 0.25 + 0.6) / 5, abs=1e-6)


def test_sequence_modes_use_the_product_of_ratios_per_completion():
    # row 0: ratios 1.5 and 1.2 -> product 1.8 (< 2: kept on every real token)
    # row 1: ratios 1.5 and 2.0 -> product 3 (> 2): truncate -> 2, mask -> 0; padding stays 0
    train = torch.tensor([[LN(0.6), LN(0.6), LN(0.9)], [LN(0.6), LN(0.8), LN(0.9)]])
    rollout = torch.tensor([[LN(0.4), LN(0.5), LN(0.1)], [LN(0.4), LN(0.4), LN(0.1)]])
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]])  # the third column (ratio 9) is padding
    w, m = rollout_is_weights(train, rollout, mask, cap=2.0, mode="sequence_truncate")
    torch.testing.assert_close(w, torch.tensor([[1.8, 1.8, 0.0], [2.0, 2.0, 0.0]]), atol=1e-5, rtol=0)
    assert m["is_clipped_frac"] == pytest.approx(0.5)
    w, _ = rollout_is_weights(train, rollout, mask, cap=2.0, mode="sequence_mask")
    torch.testing.assert_close(w, torch.tensor([[1.8, 1.8, 0.0], [0.0, 0.0, 0.0]]), atol=1e-5, rtol=0)


def test_identical_policies_give_unit_weights_and_no_gradient():
    lp = torch.tensor([[-0.7, -1.2], [-3.0, -0.1]], requires_grad=True)
    w, m = rollout_is_weights(lp, lp.detach().clone(), torch.ones(2, 2), cap=3.0)
    assert torch.equal(w, torch.ones(2, 2)) and m == {"is_weight_mean": 1.0, "is_clipped_frac": 0.0}
    assert not w.requires_grad  # a constant per token, like the advantage


def test_huge_ratios_do_not_overflow():
    train, rollout = torch.tensor([[0.0, 0.0]]), torch.tensor([[-200.0, -1e4]])  # ratios e^200, e^10000
    w, _ = rollout_is_weights(train, rollout, torch.ones(1, 2), cap=5.0)
    assert torch.equal(w, torch.tensor([[5.0, 5.0]]))


def test_rejects_unknown_mode_and_cap_below_one():
    x = torch.zeros(1, 1)
    with pytest.raises(ValueError, match="unknown rollout IS mode"):
        rollout_is_weights(x, x, x, mode="tis")
    with pytest.raises(ValueError, match="cap must be >= 1"):
        rollout_is_weights(x, x, x, cap=0.5)
