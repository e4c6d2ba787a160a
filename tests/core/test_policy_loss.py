"""policy_loss: hand values per component, gradient identities, masked garbage."""

import importlib
import itertools
import math

import pytest
import torch

from hybridrl.core.aggregation import agg_loss
from hybridrl.core.policy_loss import CLIPS, DENOMINATORS, policy_loss

NAN, INF = float("nan"), float("inf")


def _tok(log_ratio, adv, logp=-0.5, **kw):
    """One token with log π = logp and log π_old = logp - log_ratio; returns (loss, d loss/d logp, metrics)."""
    lp = torch.tensor([[logp]], dtype=torch.float64, requires_grad=True)
    old = torch.tensor([[logp - log_ratio]], dtype=torch.float64)
    loss, metrics = policy_loss(lp, old, torch.tensor([adv], dtype=torch.float64), torch.ones(1, 1), **kw)
    (g,) = torch.autograd.grad(loss.sum(), lp)
    return loss.item(), g.item(), metrics


# ---------------------------------------------------------------- ppo / dapo / dual
def test_ppo_unclipped_token():
    # ratio = e^0.1 = 1.1051709 inside [0.8, 1.2] -> loss = -A r = -1.1051709, d/dlogp = -A r
    loss, g, m = _tok(0.1, 1.0)
    assert loss == pytest.approx(-1.1051709, abs=1e-6)
    assert g == pytest.approx(-1.1051709, abs=1e-6)
    assert m["clipfrac"].item() == 0.0


def test_ppo_clipped_positive_token_has_zero_gradient():
    # ratio = e^0.3 = 1.3498588 > 1.2 and A > 0 -> loss = -1.2, gradient 0
    loss, g, m = _tok(0.3, 1.0)
    assert loss == pytest.approx(-1.2, abs=1e-6)
    assert g == 0.0
    assert m["clipfrac_high"].item() == 1.0 and m["clipfrac_low"].item() == 0.0


def test_ppo_negative_advantage_large_ratio_is_not_clipped():
    # A = -1, r = 1.3498588: max(-A r, -A clip(r)) = max(1.3498588, 1.2) -> unclipped, gradient flows
    loss, g, _ = _tok(0.3, -1.0)
    assert loss == pytest.approx(1.3498588, abs=1e-6)
    assert g == pytest.approx(1.3498588, abs=1e-6)


def test_ppo_negative_advantage_small_ratio_is_clipped():
    # A = -1, r = e^-0.5 = 0.6065307 < 0.8: max(0.6065307, 0.8) = 0.8 -> clipped, gradient 0
    loss, g, m = _tok(-0.5, -1.0)
    assert loss == pytest.approx(0.8, abs=1e-6)
    assert g == 0.0
    assert m["clipfrac_low"].item() == 1.0


def test_dapo_clip_higher():
    # r = e^0.2 = 1.2214028: clipped to 1.2 with eps_high = 0.2, not with eps_high = 0.28
    assert _tok(0.2, 1.0)[0] == pytest.approx(-1.2, abs=1e-6)
    loss, g, _ = _tok(0.2, 1.0, eps_high=0.28)
    assert loss == pytest.approx(-1.2214028, abs=1e-6)
    assert g == pytest.approx(-1.2214028, abs=1e-6)


def test_dual_clip():
    # A = -1, r = e^1.5 = 4.4816891: ppo gives max(4.48, 1.2) = 4.48; dual caps at -A c = 3 -> grad 0
    loss, g, m = _tok(1.5, -1.0, clip="dual", dual_clip_c=3.0)
    assert loss == pytest.approx(3.0, abs=1e-6)
    assert g == 0.0
    assert m["dual_clipfrac"].item() == 1.0
    # r = e^0.3 = 1.3498588 < 3: unchanged from ppo
    assert _tok(0.3, -1.0, clip="dual")[0] == pytest.approx(1.3498588, abs=1e-6)
    # positive advantages never dual-clipped: r = e^1.5, A = 1 -> ordinary clip -1.2
    assert _tok(1.5, 1.0, clip="dual")[0] == pytest.approx(-1.2, abs=1e-6)
    with pytest.raises(ValueError, match="dual_clip_c"):
        _tok(0.1, -1.0, clip="dual", dual_clip_c=0.5)


# ---------------------------------------------------------------- cispo
def test_cispo_value_and_gradient_weight_is_detached():
    # r = e^0.3 = 1.3498588 -> w = clip(r, 0.8, 1.2) = 1.2 ; loss = -w A logp = -1.2 * 1 * (-0.5) = 0.6
    # gradient = -w A = -1.2 (not zero: CISPO keeps clipped tokens)
    loss, g, m = _tok(0.3, 1.0, clip="cispo")
    assert loss == pytest.approx(0.6, abs=1e-6)
    assert g == pytest.approx(-1.2, abs=1e-6)
    assert m["clipfrac"].item() == 1.0
    # unclipped token: w = e^0.1 = 1.1051709; if w carried gradient the result would be
    # -A (w + w logp) = -0.5525855; detached it is -A w = -1.1051709
    loss, g, _ = _tok(0.1, 1.0, clip="cispo")
    assert loss == pytest.approx(0.5525855, abs=1e-6)  # -1.1051709 * (-0.5)
    assert g == pytest.approx(-1.1051709, abs=1e-6)


# ---------------------------------------------------------------- denominators and shaping
def test_detached_denominator_is_weighted_nll():
    # r ≡ 1; loss = -A logp = -2 * (-0.7) = 1.4 ; d/dlogp = -A = -2 ; old_logp not needed
    lp = torch.tensor([[-0.7]], requires_grad=True)
    loss, m = policy_loss(lp, None, torch.tensor([2.0]), torch.ones(1, 1), denominator="detached")
    (g,) = torch.autograd.grad(loss.sum(), lp)
    assert loss.item() == pytest.approx(1.4, abs=1e-6)
    assert g.item() == pytest.approx(-2.0, abs=1e-6)
    assert m["ratio_mean"].item() == 1.0


def test_one_denominator_ratio_is_pi():
    # π = 0.5, A = 2: loss = -A π = -1 ; d/dlogp = -A π = -1
    lp = torch.tensor([[math.log(0.5)]], dtype=torch.float64, requires_grad=True)
    loss, m = policy_loss(lp, None, torch.tensor([2.0]), torch.ones(1, 1), denominator="one", clip="none")
    (g,) = torch.autograd.grad(loss.sum(), lp)
    assert loss.item() == pytest.approx(-1.0, abs=1e-6)
    assert g.item() == pytest.approx(-1.0, abs=1e-6)
    assert m["ratio_max"].item() == pytest.approx(0.5, abs=1e-6)


def test_luffy_shaping_value_and_gradient():
    # f(π) = π / (π + γ) = 0.5 / 0.6 = 0.8333333 ; A = 2 -> loss = -1.6666667
    # ∂loss/∂π = -A γ / (π + γ)^2 = -2 * 0.1 / 0.36 = -0.5555556
    pi = torch.tensor([[0.5]], dtype=torch.float64, requires_grad=True)
    loss, _ = policy_loss(
        torch.log(pi), None, torch.tensor([2.0]), torch.ones(1, 1),
        denominator="one", shaping="luffy", shaping_gamma=0.1, clip="none",
    )
    (g,) = torch.autograd.grad(loss.sum(), pi)
    assert loss.item() == pytest.approx(-1.6666667, abs=1e-6)
    assert g.item() == pytest.approx(-0.5555556, abs=1e-6)


@pytest.mark.parametrize("seed", range(3))
def test_luffy_gradient_identity_random(seed):
    # gradient w.r.t. π of -A f(π) is -A γ/(π+γ)^2, elementwise
    g = torch.Generator().manual_seed(seed)
    pi = torch.rand(3, 4, generator=g, dtype=torch.float64).clamp(0.01).requires_grad_()
    adv = torch.randn(3, generator=g, dtype=torch.float64)
    gamma = 0.1 * (seed + 1)
    loss, _ = policy_loss(torch.log(pi), None, adv, torch.ones(3, 4), denominator="one",
                          shaping="luffy", shaping_gamma=gamma, clip="none")
    (grad,) = torch.autograd.grad(loss.sum(), pi)
    expected = -adv[:, None] * gamma / (pi.detach() + gamma) ** 2
    assert torch.allclose(grad, expected, atol=1e-12)


def test_gspo_sequence_ratio_and_clip():
    # log ratios [0.1, 0.3] -> s = exp(mean) = e^0.2 = 1.2214028 on both tokens
    lp = torch.tensor([[-0.5, -1.0]], dtype=torch.float64, requires_grad=True)
    old = torch.tensor([[-0.6, -1.3]], dtype=torch.float64)
    mask = torch.ones(1, 2)
    adv = torch.tensor([1.0], dtype=torch.float64)
    # eps 0.2: s > 1.2 -> clipped, loss -1.2 on both tokens, gradient 0
    loss, m = policy_loss(lp, old, adv, mask, denominator="gspo", clip="gspo")
    assert torch.allclose(loss, torch.tensor([[-1.2, -1.2]], dtype=torch.float64), atol=1e-9)
    assert torch.autograd.grad(loss.sum(), lp)[0].abs().sum().item() == 0.0
    assert m["ratio_mean"].item() == pytest.approx(1.2214028, abs=1e-6)
    # eps_high 0.28: unclipped, loss -s on each token; seq-mean-token-mean = -s
    loss, _ = policy_loss(lp, old, adv, mask, denominator="gspo", clip="gspo", eps_high=0.28)
    agg = agg_loss(loss, mask, "seq-mean-token-mean")
    (g,) = torch.autograd.grad(agg, lp)
    assert agg.item() == pytest.approx(-1.2214028, abs=1e-6)
    # equals the gradient of the sequence objective -exp(mean_t(logp - old)): -s/|y| per token
    assert torch.allclose(g, torch.full((1, 2), -1.2214028 / 2, dtype=torch.float64), atol=1e-6)


@pytest.mark.parametrize("seed", range(3))
def test_gspo_token_form_gradient_equals_sequence_form(seed):
    gen = torch.Generator().manual_seed(seed)
    n, t = 4, 6
    mask = torch.arange(t)[None] < torch.tensor([6, 3, 1, 5])[:, None]
    lp = (-torch.rand(n, t, generator=gen, dtype=torch.float64)).requires_grad_()
    old = lp.detach() + 0.05 * torch.randn(n, t, generator=gen, dtype=torch.float64)
    adv = torch.randn(n, generator=gen, dtype=torch.float64)
    loss, _ = policy_loss(lp, old, adv, mask, denominator="gspo", clip="none")
    (g_tok,) = torch.autograd.grad(agg_loss(loss, mask, "seq-mean-token-mean"), lp)
    # sequence objective: -(1/N) Σ_i A_i exp(Σ_t m (lp - old) / |y_i|)
    mf = mask.double()
    s = torch.exp(((lp - old) * mf).sum(-1) / mf.sum(-1))
    (g_seq,) = torch.autograd.grad(-(adv * s).mean(), lp)
    assert torch.allclose(g_tok, g_seq, atol=1e-12)


def test_metrics_hand_values():
    # log ratios [0.1, 0.3, -0.5 (A<0), 9 (masked)] -> ratios [1.1051709, 1.3498588, 0.6065307]
    lp = torch.tensor([[0.0, 0.0, 0.0, 0.0]])
    old = torch.tensor([[-0.1, -0.3, 0.5, -9.0]])
    adv = torch.tensor([[1.0, 1.0, -1.0, 1.0]])
    mask = torch.tensor([[1, 1, 1, 0]])
    _, m = policy_loss(lp, old, adv, mask)
    assert m["ratio_mean"].item() == pytest.approx((1.1051709 + 1.3498588 + 0.6065307) / 3, abs=1e-6)
    assert m["ratio_min"].item() == pytest.approx(0.6065307, abs=1e-6)
    assert m["ratio_max"].item() == pytest.approx(1.3498588, abs=1e-6)
    assert m["clipfrac_high"].item() == pytest.approx(1 / 3, abs=1e-6)  # token 2
    assert m["clipfrac_low"].item() == pytest.approx(1 / 3, abs=1e-6)  # token 3
    assert m["clipfrac"].item() == pytest.approx(2 / 3, abs=1e-6)
    assert all(not v.requires_grad for v in m.values())


def test_errors():
    lp, mask, adv = torch.zeros(1, 2), torch.ones(1, 2), torch.ones(1)
    with pytest.raises(ValueError, match="denominator"):
        policy_loss(lp, lp, adv, mask, denominator="old")
    with pytest.raises(ValueError, match="clip"):
        policy_loss(lp, lp, adv, mask, clip="trpo")
    with pytest.raises(ValueError, match="gspo"):
        policy_loss(lp, lp, adv, mask, clip="gspo")
    with pytest.raises(ValueError, match="old_logp"):
        policy_loss(lp, None, adv, mask, denominator="rollout")
    with pytest.raises(ValueError, match="shaping"):
        policy_loss(lp, None, adv, mask, denominator="detached", shaping="luffy")


# ---------------------------------------------------------------- masked garbage
_COMBOS = [
    (d, c, s)
    for d, c, s in itertools.product(DENOMINATORS, CLIPS, (None, "luffy"))
    if not (c == "gspo" and d != "gspo") and not (d == "detached" and s)
]


@pytest.mark.parametrize("denominator,clip,shaping", _COMBOS)
def test_garbage_at_masked_positions_changes_nothing(denominator, clip, shaping):
    gen = torch.Generator().manual_seed(0)
    n, t = 3, 5
    mask = torch.arange(t)[None] < torch.tensor([5, 2, 3])[:, None]
    base = -torch.rand(n, t, generator=gen, dtype=torch.float64)
    old = base + 0.3 * torch.randn(n, t, generator=gen, dtype=torch.float64)
    adv = torch.randn(n, t, generator=gen, dtype=torch.float64)
    garbage = torch.tensor([NAN, INF, -INF], dtype=torch.float64)[torch.arange(n * t) % 3].view(n, t)

    def run(dirty):
        lp = base.clone().requires_grad_()
        x = torch.where(mask, lp, garbage) if dirty else lp
        o = torch.where(mask, old, garbage) if dirty else old
        a = torch.where(mask, adv, garbage) if dirty else adv
        loss, metrics = policy_loss(x, o, a, mask, denominator=denominator, clip=clip, shaping=shaping)
        total = agg_loss(loss, mask, "token-mean")
        (g,) = torch.autograd.grad(total, lp)
        return loss, total, g, metrics

    l0, t0, g0, m0 = run(False)
    l1, t1, g1, m1 = run(True)
    assert torch.equal(t0, t1) and torch.equal(g0, g1) and torch.isfinite(g1).all()
    assert torch.equal(torch.where(mask, l0, 0.0), l1)
    assert (l1[~mask] == 0).all()
    for k in m0:
        assert torch.equal(m0[k], m1[k]), k


# ---------------------------------------------------------------- clip fractions, log-ratio clamp
@pytest.mark.parametrize("denominator,clip", [("rollout", "ppo"), ("rollout", "dual"), ("gspo", "gspo")])
def test_clipfrac_counts_exactly_the_tokens_whose_gradient_the_clip_removed(denominator, clip):
    # five one-token sequences (so the gspo sequence ratio is the token ratio), eps = 0.2: [0.8, 1.2]
    #   log ratio  r          A    -min(A r, A clip(r))           clipped?
    #   -0.5       0.6065307  +1   -min(0.6065, 0.8) = -0.6065307  no: r < lo but A > 0 (gradient flows)
    #   +0.3       1.3498588  -1   -min(-1.3499, -1.2) = 1.3498588 no: r > hi but A < 0 (gradient flows)
    #   -0.5       0.6065307  -1   -min(-0.6065, -0.8) = 0.8       low
    #   +0.3       1.3498588  +1   -min(1.3499, 1.2) = -1.2        high
    #   +0.1       1.1051709  +1   -1.1051709                      no: inside the range
    # (dual-clip, c = 3, caps A < 0 losses at 3: 1.3498588 < 3, nothing capped)
    log_ratio = torch.tensor([[-0.5], [0.3], [-0.5], [0.3], [0.1]], dtype=torch.float64)
    adv = torch.tensor([1.0, -1.0, -1.0, 1.0, 1.0], dtype=torch.float64)
    lp = torch.full((5, 1), -0.5, dtype=torch.float64, requires_grad=True)
    old = lp.detach() - log_ratio
    loss, m = policy_loss(lp, old, adv, torch.ones(5, 1), denominator=denominator, clip=clip)
    expected = [-0.6065307, 1.3498588, 0.8, -1.2, -1.1051709]
    assert loss.squeeze(1).tolist() == pytest.approx(expected, abs=1e-6)
    (g,) = torch.autograd.grad(loss.sum(), lp)
    assert (g.squeeze(1) == 0).tolist() == [False, False, True, True, False]  # the clipped ones
    assert m["clipfrac_low"].item() == pytest.approx(1 / 5, abs=1e-12)  # token 3 only
    assert m["clipfrac_high"].item() == pytest.approx(1 / 5, abs=1e-12)  # token 4 only
    assert m["clipfrac"].item() == pytest.approx(2 / 5, abs=1e-12)  # = share of zero gradients
    if clip == "dual":
        assert m["dual_clipfrac"].item() == 0.0


@pytest.mark.parametrize("denominator,clip", [("rollout", "ppo"), ("rollout", "dual"), ("gspo", "gspo")])
@pytest.mark.parametrize("adv", [1.0, -1.0])
def test_a_huge_log_ratio_gives_a_finite_loss_and_gradient(denominator, clip, adv):
    # a stale old_logp 100 nats below logp: exp(100) overflows float32 (max ~ exp(88.7)). The
    # log ratio is clamped at 20 first, r = exp(20) = 4.8516520e8, finite. Without the clamp
    # A > 0 gives loss max(-inf, -1.2) = -1.2 with a NaN gradient (0 * inf in exp's backward)
    # and A < 0 gives an infinite loss.
    lp = torch.tensor([[-0.5, -1.0]], requires_grad=True)  # float32, as the loop computes
    # token 2: ratio 1, an ordinary token; gspo's ratio is per sequence (exp of the mean log
    # ratio), so there both tokens are 100 nats off
    old = lp.detach() - torch.tensor([[100.0, 0.0 if denominator == "rollout" else 100.0]])
    loss, m = policy_loss(lp, old, torch.tensor([adv]), torch.ones(1, 2), denominator=denominator, clip=clip)
    total = agg_loss(loss, torch.ones(1, 2), "token-mean")
    (g,) = torch.autograd.grad(total, lp)
    assert torch.isfinite(loss).all() and torch.isfinite(total) and torch.isfinite(g).all()
    assert torch.isfinite(m["ratio_max"])
    if denominator == "rollout":
        # A > 0: clipped at 1 + eps -> -1.2 (gradient 0); A < 0: -A r = exp(20), capped at
        # -A c = 3 by dual-clip; token 2 is -A (ratio 1) with gradient -A
        big = -1.2 if adv > 0 else (3.0 if clip == "dual" else math.exp(20))
        assert loss[0].tolist() == pytest.approx([big, -adv], rel=1e-6)
        assert g[0, 1].item() == pytest.approx(-adv / 2, rel=1e-6)  # token-mean over 2 tokens
        assert m["ratio_max"].item() == pytest.approx(math.exp(20), rel=1e-6)


# ---------------------------------------------------------------- mutation-run survivors
def test_an_all_masked_batch_has_zero_metrics_of_the_input_dtype():
    # no token trained on (a micro-batch of padding): loss 0, every metric a 0-dim zero in the
    # input's dtype (not None, not float32, not missing a key)
    lp = torch.zeros(2, 3, dtype=torch.float64, requires_grad=True)
    loss, m = policy_loss(lp, lp.detach() - 1.0, torch.ones(2, dtype=torch.float64), torch.zeros(2, 3))
    assert torch.equal(loss, torch.zeros(2, 3, dtype=torch.float64))
    assert set(m) == {"ratio_mean", "ratio_min", "ratio_max", "clipfrac_low", "clipfrac_high", "clipfrac"}
    for k, v in m.items():
        assert v.shape == () and v.dtype == torch.float64 and v.item() == 0.0, k


def test_advantages_of_another_dtype_leave_the_loss_in_the_log_probs_dtype():
    # float64 advantages (a reward computation in double) must not promote a float32 loss:
    # A is cast to logp's dtype first
    lp = torch.tensor([[-0.5, -1.0]], requires_grad=True)
    loss, _ = policy_loss(lp, lp.detach(), torch.tensor([2.0], dtype=torch.float64), torch.ones(1, 2))
    assert loss.dtype == torch.float32
    assert loss[0].tolist() == pytest.approx([-2.0, -2.0])  # ratio 1: -A r = -2


def test_luffy_shaping_defaults_to_gamma_0_1():
    # LUFFY §3.3: f(π) = π / (π + 0.1) when shaping_gamma is not given; π = e^-0.5 = 0.6065307
    # -> f = 0.6065307 / 0.7065307 = 0.8584640, loss -A f = -0.8584640
    lp = torch.tensor([[-0.5]], dtype=torch.float64, requires_grad=True)
    loss, _ = policy_loss(lp, None, torch.tensor([1.0], dtype=torch.float64), torch.ones(1, 1),
                          denominator="one", shaping="luffy", clip="none")
    assert loss.item() == pytest.approx(-0.6065307 / 0.7065307, abs=1e-7)


# --- the registries (mutmut cannot see import-time registration, so register here) ------

def test_registering_components_at_run_time():
    pl = importlib.import_module("hybridrl.core.policy_loss")  # the module (hybridrl.core re-exports the function)

    def ratio_half(lp, old, m):  # r ≡ 0.5
        return torch.full_like(lp, 0.5)

    def shaping_square(r, gamma):  # f(r) = r²
        return r * r

    def clip_double(x):  # loss = -2 A r, nothing clipped
        z = torch.zeros_like(x.m)
        return pl.Surrogate(-2 * x.adv * x.r, z, z, {})

    try:
        assert pl.register_denominator("t_half", needs_old=False)(ratio_half) is ratio_half
        assert pl._DENOMINATORS["t_half"] == pl.Denominator(ratio_half, False, False)  # ratio_is_one defaults False
        pl.register_denominator("t_half_one", needs_old=True, ratio_is_one=True)(ratio_half)
        assert pl._DENOMINATORS["t_half_one"] == pl.Denominator(ratio_half, True, True)
        assert pl.register_shaping("t_sq")(shaping_square) is shaping_square and pl._SHAPINGS["t_sq"] is shaping_square
        assert pl.register_clip("t_double")(clip_double) is clip_double and pl._CLIPS["t_double"] is clip_double
        # and policy_loss uses them: r = 0.5, f(r) = 0.25, loss = -2 · A · 0.25 = -1 for A = 2
        loss, m = policy_loss(torch.zeros(1, 1), None, torch.tensor([2.0]), torch.ones(1, 1),
                              denominator="t_half", shaping="t_sq", clip="t_double")
        assert loss.item() == -1.0 and m["ratio_mean"].item() == 0.5
    finally:
        for reg, key in ((pl._DENOMINATORS, "t_half"), (pl._DENOMINATORS, "t_half_one"), (pl._SHAPINGS, "t_sq"),
                         (pl._CLIPS, "t_double")):
            reg.pop(key, None)
