"""KL estimators, entropy from logits, clipped value loss."""

import math

import pytest
import torch

from hybridrl.core.regularizers import entropy_from_logits, kl_penalty, value_loss

NAN, INF = float("nan"), float("inf")


def test_kl_hand_values():
    # log ρ = ref - logp = -0.3 - (-0.5) = 0.2
    lp, ref = torch.tensor([[-0.5]]), torch.tensor([[-0.3]])
    assert kl_penalty(lp, ref, "k1").item() == pytest.approx(-0.2, abs=1e-7)  # -log ρ
    assert kl_penalty(lp, ref, "k2").item() == pytest.approx(0.02, abs=1e-7)  # 0.5 * 0.04
    # k3 = e^0.2 - 1 - 0.2 = 1.2214028 - 1.2 = 0.0214028
    assert kl_penalty(lp, ref, "k3").item() == pytest.approx(0.0214028, abs=1e-7)
    with pytest.raises(ValueError, match="k3"):
        kl_penalty(lp, ref, "k4")


def test_kl_estimators_are_unbiased_where_claimed():
    # exact KL(p || q) for two categoricals vs the sample mean over p of k1 and k3 (exact expectation)
    p = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
    q = torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64)
    kl = (p * (p / q).log()).sum()
    for kind in ("k1", "k3"):
        est = kl_penalty(p.log()[None], q.log()[None], kind)[0]
        assert (p * est).sum().item() == pytest.approx(kl.item(), abs=1e-12)


def test_kl_gradient_and_mask():
    # d k3 / d logp = 1 - ρ ;  ρ = e^0.2 -> 1 - 1.2214028 = -0.2214028 ; ref gets no gradient
    lp = torch.tensor([[-0.5, NAN]], requires_grad=True)
    ref = torch.tensor([[-0.3, INF]], requires_grad=True)
    k = kl_penalty(lp, ref, "k3", mask=torch.tensor([[1, 0]]))
    k.sum().backward()
    assert lp.grad[0, 0].item() == pytest.approx(-0.2214028, abs=1e-6)
    assert lp.grad[0, 1].item() == 0.0
    assert ref.grad is None
    assert k[0, 1].item() == 0.0


def test_entropy_hand_values():
    # uniform over 4 -> log 4 = 1.3862944 ; one-hot-ish with -inf -> 0 ; two equal of 3 with -inf -> log 2
    logits = torch.tensor([[[0.0, 0.0, 0.0, 0.0], [5.0, -INF, -INF, -INF], [1.0, 1.0, -INF, -INF]]])
    h = entropy_from_logits(logits)
    assert torch.allclose(h, torch.tensor([[math.log(4), 0.0, math.log(2)]]), atol=1e-6)


def test_entropy_is_stable_and_differentiable():
    logits = torch.tensor([[[1e4, 0.0, -1e4, -INF]]], requires_grad=True)
    h = entropy_from_logits(logits)
    h.sum().backward()
    assert torch.isfinite(h).all() and h.item() == pytest.approx(0.0, abs=1e-6)
    assert torch.isfinite(logits.grad).all()
    # gradient vs finite difference on a generic point
    x = torch.tensor([[[0.3, -1.2, 0.8]]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(entropy_from_logits, (x,))


def test_value_loss_hand_values():
    # token 1: V=1.0, V_old=0.5, R=2.0: V_clip = 0.5 + 0.2 = 0.7
    #   0.5 * max((1-2)^2, (0.7-2)^2) = 0.5 * max(1, 1.69) = 0.845  (clipped branch wins, no grad)
    # token 2: V=0.6, V_old=0.5, R=0.0: V_clip = 0.6 ; 0.5 * 0.36 = 0.18, grad = V - R = 0.6
    # token 3: masked garbage
    v = torch.tensor([[1.0, 0.6, NAN]], requires_grad=True)
    old = torch.tensor([[0.5, 0.5, INF]])
    ret = torch.tensor([[2.0, 0.0, NAN]])
    loss = value_loss(v, old, ret, torch.tensor([[1, 1, 0]]), clip_eps=0.2)
    assert torch.allclose(loss, torch.tensor([[0.845, 0.18, 0.0]]), atol=1e-6)
    loss.sum().backward()
    assert torch.allclose(v.grad, torch.tensor([[0.0, 0.6, 0.0]]), atol=1e-6)


def test_k3_is_clamped_like_verl():
    # verl low_var_kl: log ρ clamped to [-20, 20], k3 clamped to [-10, 10]
    lp = torch.tensor([[0.0, 0.0, 0.0, 0.0]], requires_grad=True)
    ref = torch.tensor([[25.0, 3.0, -25.0, 2.0]])  # log ρ = ref - logp
    k3 = kl_penalty(lp, ref, "k3")
    # 25 -> clamp 20 -> e^20 - 1 - 20 = 4.85e8 -> clamp 10
    # 3 -> e^3 - 1 - 3 = 20.0855369 - 4 = 16.0855369 -> clamp 10
    # -25 -> clamp -20 -> e^-20 - 1 + 20 = 19.0000000 -> clamp 10
    # 2 -> e^2 - 1 - 2 = 7.3890561 - 3 = 4.3890561 (inside, unchanged)
    assert k3.tolist()[0] == pytest.approx([10.0, 10.0, 10.0, 4.3890561], abs=1e-6)
    k3.sum().backward()
    # clamped tokens carry no gradient; d k3 / d logp = 1 - ρ = 1 - e^2 = -6.3890561 inside
    assert lp.grad.tolist()[0] == pytest.approx([0.0, 0.0, 0.0, -6.3890561], abs=1e-6)


# --- edges the mutation run found unpinned -------------------------------------------

def test_kl_default_is_k3_and_the_error_lists_the_kinds():
    lp, ref = torch.tensor([[-0.5]]), torch.tensor([[-0.3]])
    assert kl_penalty(lp, ref).item() == pytest.approx(0.0214028, abs=1e-7)  # e^0.2 - 1 - 0.2, as k3 above
    with pytest.raises(ValueError, match=r"^unknown KL estimator 'k4'; valid: k1, k2, k3$"):
        kl_penalty(lp, ref, "k4")


def test_k3_log_ratio_clamp_keeps_the_gradient_finite():
    # log ρ = ref - logp = 0 - (-100) = 100: e^100 overflows float32 to inf. Clamped to 20 first,
    # the value is then clamped to 10 and the token has gradient 0 (not 0 · inf = nan)
    lp = torch.tensor([[-100.0]], requires_grad=True)
    k3 = kl_penalty(lp, torch.zeros(1, 1), "k3")
    (g,) = torch.autograd.grad(k3.sum(), lp)
    assert k3.item() == 10.0 and g.item() == 0.0


def test_entropy_precision_follows_the_input_dtype():
    # float64 logits are summed in float64: H of logits [0, 1e-3] is ln 2 - (1e-3)²/8 + O(1e-12)
    #   = 0.693147180559945 - 1.25e-7 = 0.6931470555599...; float32 arithmetic is off by ~1e-7
    x = torch.tensor([[[0.0, 1e-3]]], dtype=torch.float64)
    p = torch.softmax(x, -1)
    exact = float(-(p * p.log()).sum())
    h = entropy_from_logits(x)
    assert h.dtype == torch.float64 and abs(h.item() - exact) < 1e-15
    # bf16 logits are summed in float32 and the result rounded to bf16 once (not summed in bf16)
    g = torch.Generator().manual_seed(0)
    lb = (3 * torch.randn(2, 3, 4096, generator=g)).to(torch.bfloat16)
    hb = entropy_from_logits(lb)
    assert hb.dtype == torch.bfloat16
    assert torch.equal(hb, entropy_from_logits(lb.float()).to(torch.bfloat16))


def test_value_loss_default_clip_and_both_branches():
    one = torch.ones(1, 1)
    t = lambda x: torch.tensor([[x]])  # noqa: E731
    # V = 0, V_old = 1, R = 0: V_clip = 1 + clip(-1, -0.2, 0.2) = 0.8 (default ε = 0.2);
    #   l = ½ max(0², 0.8²) = 0.32 (the clipped branch wins: the lower clip is what holds V back)
    assert value_loss(t(0.0), t(1.0), t(0.0), one).item() == pytest.approx(0.32)
    # V = 2 = V_old, R = 0: V_clip = 2; l = ½ · 2² = 2 (a square, not a cube: 8 / 2 = 4)
    assert value_loss(t(2.0), t(2.0), t(0.0), one).item() == pytest.approx(2.0)
    # V = 0.5, V_old = 0, R = 1: V_clip = 0.2; l = ½ max(0.25, 0.64) = 0.32
    assert value_loss(t(0.5), t(0.0), t(1.0), one).item() == pytest.approx(0.32)


def test_entropy_for_logging_equals_the_differentiable_one():
    # #28 item 1: the logged entropy (no bonus) is computed in chunks as Σ entr(softmax); the same
    # value, -inf logits included, over a number of positions that is no multiple of the chunk
    from hybridrl.core.regularizers import entropy_for_logging

    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 37, 500, generator=g) * 4
    x[0, 0, :250] = float("-inf")
    x[1, 5, 7] = float("-inf")
    want = entropy_from_logits(x)
    for rows in (1, 32, 1000):
        got = entropy_for_logging(x, rows=rows)
        assert got.shape == want.shape and not got.requires_grad
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-6)
    assert entropy_for_logging(x.to(torch.bfloat16)).dtype == torch.bfloat16
