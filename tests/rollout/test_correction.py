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


# -- wired into the update: one GRPO step of the real loop on the tiny model (HF engine) ----------

def _first_step(tmp_path, name: str, sampler_shift: float, **overrides):
    """Step 0 of GRPO whose generator reports log-probs shifted by ``sampler_shift`` on real tokens
    (a stand-in for an engine whose kernels disagree with ours by exactly that much)."""
    from hybridrl.config import build_config
    from hybridrl.training.loop.trainer import Trainer

    opts = dict(model="tiny", task="chain_sum", train_size=16, eval_size=0, prompts_per_step=2, group_size=4,
                max_new_tokens=8, micro_batch_size=8, lr=1e-3, progress=False, max_grad_norm=1e9,
                bf16=False,  # fp32 on every machine (bf16=auto is on where the CPU has AVX-512 BF16)
                reward_fn="scripted_rewards:even_length", output_dir=str(tmp_path / name), **overrides)
    t = Trainer(build_config(None, {"method": "grpo"}, [f"{k}={v}" for k, v in opts.items()]))
    real = t.generator.generate

    def shifted(prompt_ids, params):
        batch = real(prompt_ids, params)
        batch.logprobs = (batch.logprobs + sampler_shift) * batch.completion_mask
        return batch

    t.generator.generate = shifted
    return t.step(0)


def test_update_logs_the_mismatch_and_applies_truncated_is(tmp_path):
    # the sampler says log p - ln 2 for every token: pi_train_old / pi_sampler = 2 on every token
    off = _first_step(tmp_path, "off", -LN(2.0))
    on = _first_step(tmp_path, "on", -LN(2.0), vllm_importance_sampling_correction=True,
                     vllm_importance_sampling_clip_max=3.0)
    capped = _first_step(tmp_path, "capped", -LN(2.0), vllm_importance_sampling_correction=True,
                         vllm_importance_sampling_clip_max=1.5)
    masked = _first_step(tmp_path, "masked", -LN(2.0), vllm_importance_sampling_correction=True,
                         vllm_importance_sampling_clip_max=1.5, vllm_importance_sampling_mode="token_mask")
    assert off["grad_norm"] > 0  # even_length rewards vary: there is a policy gradient to scale
    # HF generate's log-probs are ours to 3e-5, so the measured mismatch is the injected ln 2 = 0.6931
    for rec in (on, capped):
        assert rec["pg/rollout_logprob_diff_mean"] == pytest.approx(LN(2.0), abs=1e-4)
        assert rec["pg/rollout_logprob_diff_max"] == pytest.approx(LN(2.0), abs=1e-4)
    # the gradient is linear in the per-token weight: w = min(2, 3) = 2 doubles it, min(2, 1.5) = 1.5
    assert on["grad_norm"] == pytest.approx(2.0 * off["grad_norm"], rel=1e-4)
    assert capped["grad_norm"] == pytest.approx(1.5 * off["grad_norm"], rel=1e-4)
    assert on["pg/is_weight_mean"] == pytest.approx(2.0, abs=1e-4) and on["pg/is_clipped_frac"] == 0.0
    assert capped["pg/is_clipped_frac"] == 1.0
    # masking: every ratio 2 > 1.5 is dropped, nothing is left to learn from
    assert masked["grad_norm"] == 0.0 and masked["pg/is_weight_mean"] == 0.0


def test_no_mismatch_metric_without_sampler_logprobs(tmp_path):
    # HF engine, no correction: the generator is not asked for log-probs and nothing is compared
    rec = _first_step(tmp_path, "plain", 0.0)
    assert not any("logprob_diff" in k or "is_weight" in k for k in rec)
