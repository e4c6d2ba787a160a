"""#26: detached token weights of SFT terms (CHORD φ, DFT / sft_is), by hand on a 3-token
demonstration, through the one entry point the loop calls (``term_loss`` + ``agg_loss``)."""

import math

import pytest
import torch

from hybridrl.core.aggregation import agg_loss
from hybridrl.core.presets import PRESETS, Preset, term_loss
from hybridrl.core.token_weights import sft_token_weights

# one demonstration of 3 tokens with p = [0.5, 0.9, 0.2] (+ one padded position holding garbage)
P = [0.5, 0.9, 0.2]
NLL = [-math.log(p) for p in P]  # [0.693147, 0.105361, 1.609438]


def _inputs():
    logp = torch.tensor([[math.log(p) for p in P] + [float("nan")]], dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]], dtype=torch.float64)
    return logp, mask


def _loss(preset, **kw):
    logp, mask = _inputs()
    ptl, metrics = term_loss(preset, logp, None, None, mask, **kw)
    loss = agg_loss(ptl, mask, PRESETS[preset].agg_mode if isinstance(preset, str) else preset.agg_mode)
    loss.backward()
    return loss.detach(), logp.grad, metrics


def test_phi_weights_by_hand():
    logp, mask = _inputs()
    # φ(p) = p(1 − p): 0.5·0.5 = 0.25, 0.9·0.1 = 0.09, 0.2·0.8 = 0.16; padding -> 0
    assert sft_token_weights(logp, mask, "phi")[0].tolist() == pytest.approx([0.25, 0.09, 0.16, 0.0], abs=1e-12)
    assert sft_token_weights(logp, mask, "dft")[0].tolist() == pytest.approx([0.5, 0.9, 0.2, 0.0], abs=1e-12)
    assert sft_token_weights(logp, mask, "nll")[0].tolist() == [1.0, 1.0, 1.0, 0.0]
    assert not sft_token_weights(logp, mask, "phi").requires_grad  # sg(φ)
    with pytest.raises(ValueError, match="phi"):
        sft_token_weights(logp, mask, "bogus")


def test_chord_sft_loss_and_gradient_by_hand():
    loss, grad, metrics = _loss("chord_sft")
    # φ·NLL = 0.25·0.693147 + 0.09·0.105361 + 0.16·1.609438 = 0.173287 + 0.009482 + 0.257510 = 0.440279
    # token mean over the 3 real tokens (not ÷ Σφ): 0.440279 / 3 = 0.146760
    assert float(loss) == pytest.approx((0.25 * NLL[0] + 0.09 * NLL[1] + 0.16 * NLL[2]) / 3, rel=1e-12)
    assert float(loss) == pytest.approx(0.146760, abs=1e-6)
    # ∂L/∂log p_t = −φ_t / 3 (the weight is detached): [−0.083333, −0.03, −0.053333], padding 0
    assert grad[0].tolist() == pytest.approx([-0.25 / 3, -0.09 / 3, -0.16 / 3, 0.0], abs=1e-12)
    assert float(metrics["token_weight_mean"]) == pytest.approx((0.25 + 0.09 + 0.16) / 3)  # 0.166667


def test_sft_loss_type_dft_is_the_probability_weighted_nll():
    loss, grad, _ = _loss("sft", sft_loss_type="dft")
    # p·NLL = 0.5·0.693147 + 0.9·0.105361 + 0.2·1.609438 = 0.346574 + 0.094825 + 0.321888 = 0.763286; / 3 = 0.254429
    assert float(loss) == pytest.approx(0.254429, abs=1e-6)
    assert grad[0].tolist() == pytest.approx([-0.5 / 3, -0.9 / 3, -0.2 / 3, 0.0], abs=1e-12)
    # the default (nll) is the plain token-mean NLL: (0.693147 + 0.105361 + 1.609438) / 3 = 0.802649
    plain, g, _ = _loss("sft")
    assert float(plain) == pytest.approx(sum(NLL) / 3, rel=1e-12)
    assert g[0].tolist() == pytest.approx([-1 / 3, -1 / 3, -1 / 3, 0.0], abs=1e-12)


def test_sft_loss_type_leaves_rl_presets_and_fixed_weightings_alone():
    # a preset that fixes φ ignores sft_loss_type; an RL preset is never token-weighted
    phi, _, _ = _loss("chord_sft", sft_loss_type="dft")
    assert float(phi) == pytest.approx(0.146760, abs=1e-6)
    logp, mask = _inputs()
    adv = torch.tensor([1.0], dtype=torch.float64)
    a, _ = term_loss("grpo", logp, logp.detach(), adv, mask)
    b, _ = term_loss("grpo", logp, logp.detach(), adv, mask, sft_loss_type="dft")
    assert torch.equal(torch.nan_to_num(a), torch.nan_to_num(b))
    with pytest.raises(ValueError, match="SFT preset"):
        Preset("x", "rollout", None, "ppo", "grpo", "token-mean", "doc", token_weight="phi")
