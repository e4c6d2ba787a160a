"""SASR (Alg. 1, eq. 12), SSR, SSR-cosine (eq. 13) and the static per-epoch hybrid."""

import pytest
import torch

from hybridrl.methods.base import Feedback
from hybridrl.methods.sasr import (
    SASRController,
    SSRController,
    SSRCosineController,
    StaticHybridController,
    sasr_probability,
    ssr_cosine_probability,
)
from methods_test_helpers import ctx, demo_only, make_batch, make_config, make_rows


def step(c, s, grad_norm=1.0, epoch=0, total=100, skipped=False):
    """One loop step; returns 'sft' or 'rl'."""
    cx = ctx(s, total=total, epoch=epoch)
    needs = c.needs(cx)
    rows = make_rows(2)
    data = make_batch(rows, [[1, 0], [0, 0]]) if needs.rollouts else demo_only(rows)
    [u] = c.plan(cx, data)
    if u.kind == "sft":
        assert not needs.rollouts  # an SFT step never samples
        # SASR: eq. 2's token sum per demonstration; SSR, SSR-cosine, static: the token mean
        sft = "sft_seq_sum" if isinstance(c, SASRController) else "sft"
        assert [(t.name, t.preset, t.source) for t in u.terms] == [("sft", sft, "demo")]
    else:
        assert needs.rollouts and [(t.name, t.preset) for t in u.terms] == [("pg", "grpo")]
    c.observe(cx, Feedback(kind=u.kind, grad_norm=grad_norm, skipped=skipped))
    return u.kind


def test_sasr_probability_arithmetic():
    assert sasr_probability(2.0, 1.0, 1.0) == pytest.approx(2 / 3)  # 2 / (2 + 1·1)
    assert sasr_probability(2.0, 1.0, 0.5) == pytest.approx(0.8)  # 2 / (2 + 0.5·1)
    assert sasr_probability(1.0, 3.0, 1.0) == pytest.approx(0.25)  # 1 / (1 + 3)


def test_sasr_warmup_bookkeeping_and_draws():
    c = SASRController(make_config(sasr_warmup_steps=3, sasr_gamma=1.0, seed=5))
    # W = 3 warm-up SFT steps with grad norms 5, 4, 3 -> G_warmup = 3 (the last one)
    assert [step(c, s, g) for s, g in enumerate([5.0, 4.0, 3.0])] == ["sft"] * 3
    assert c.g_warmup == 3.0 and c.g_last == 3.0 and c.metrics()["sasr_p"] == 1.0
    # adaptive stage: replay the controller's own draws u ~ U(0,1) from seed 5
    rng = torch.Generator().manual_seed(5)
    g_last, kinds, expected = 3.0, [], []
    sft_norms = iter([1.0, 6.0, 0.5, 2.0, 9.0, 1.0, 1.0, 1.0])
    for s in range(3, 11):
        p = g_last / (g_last + 1.0 * 3.0)  # eq. 12 with G_warmup = 3
        u = float(torch.rand((), generator=rng))
        expected.append("sft" if u < p else "rl")
        g = next(sft_norms) if expected[-1] == "sft" else 100.0  # RL grad norms must not count
        kinds.append(step(c, s, g))
        assert c.metrics()["sasr_p"] == pytest.approx(p)
        if expected[-1] == "sft":
            g_last = g
        assert c.g_last == g_last and c.g_warmup == 3.0
    assert kinds == expected
    assert set(kinds) == {"sft", "rl"}  # the script exercises both branches


def test_sasr_extremes_and_skipped_updates():
    # γ = 0 -> p = 1: always SFT; γ huge -> p ≈ 0: always GRPO after the warm-up
    c = SASRController(make_config(sasr_warmup_steps=2, sasr_gamma=0.0))
    assert [step(c, s) for s in range(6)] == ["sft"] * 6
    c = SASRController(make_config(sasr_warmup_steps=2, sasr_gamma=1e12))
    assert [step(c, s) for s in range(6)] == ["sft", "sft", "rl", "rl", "rl", "rl"]
    assert c.metrics()["sft_fraction"] == 0.0
    # a skipped (non-finite) SFT update does not overwrite the recorded norms
    c = SASRController(make_config(sasr_warmup_steps=2))
    step(c, 0, 2.0)
    step(c, 1, float("inf"), skipped=True)
    assert c.g_warmup == 2.0 and c.g_last == 2.0


def test_sasr_sft_step_without_demonstrations_keeps_g_last():
    # warm-up of 1 step measures G_warmup = G_last = 2; then an SFT step whose batch holds no
    # demonstration trains nothing (grad norm 0): recording it would give p = 0 / (0 + 2) = 0 for
    # ever. It is ignored: p stays 2 / (2 + 1·2) = 0.5.
    c = SASRController(make_config(sasr_warmup_steps=1))
    step(c, 0, 2.0)
    no_demo = make_rows(2, demos=False)
    c._sft = True  # force an SFT step (as if u < p had been drawn)
    [u] = c.plan(ctx(1), demo_only(no_demo))
    assert u.kind == "sft" and u.terms[0].indices.tolist() == []
    c.observe(ctx(1), Feedback(kind="sft", grad_norm=0.0))
    assert c.g_last == 2.0
    c.needs(ctx(2))
    assert c.metrics()["sasr_p"] == pytest.approx(0.5)


def test_sasr_without_warmup_measures_first():
    c = SASRController(make_config(sasr_warmup_steps=0, sasr_gamma=1e12))
    assert step(c, 0, 4.0) == "sft"  # p = 1 until an SFT grad norm is known
    assert c.g_warmup == 4.0
    assert step(c, 1) == "rl"


def test_ssr_alternates():
    c = SSRController(make_config())
    assert [step(c, s) for s in range(6)] == ["sft", "rl"] * 3
    assert c.metrics()["sft_fraction"] == 0.0


def test_ssr_cosine_schedule():
    # I(s) = 0.5 (1 + cos(π s / S)) (U - L) + L with U = 0.9, L = 0.1, S = 100
    assert ssr_cosine_probability(0, 100, 0.9, 0.1) == pytest.approx(0.9)  # cos 0 = 1 -> U
    assert ssr_cosine_probability(50, 100, 0.9, 0.1) == pytest.approx(0.5)  # cos π/2 = 0 -> (U + L)/2
    assert ssr_cosine_probability(100, 100, 0.9, 0.1) == pytest.approx(0.1)  # cos π = -1 -> L
    c = SSRCosineController(make_config(ssr_cosine_upper=0.9, ssr_cosine_lower=0.1, seed=3))
    rng = torch.Generator().manual_seed(3)
    for s in range(0, 100, 10):
        p = ssr_cosine_probability(s, 100, 0.9, 0.1)
        u = float(torch.rand((), generator=rng))
        assert step(c, s) == ("sft" if u < p else "rl")
        assert c.metrics()["ssr_cosine/p_sft"] == pytest.approx(p)
    # U = 1, L = 0 (defaults): step 0 is always SFT (u < 1), and late steps mostly GRPO
    c = SSRCosineController(make_config())
    assert step(c, 0) == "sft"
    assert [step(c, s) for s in range(95, 100)].count("rl") >= 4


def test_static_hybrid_by_epoch():
    c = StaticHybridController(make_config(static_hybrid_repeat=True))
    # 2 epochs SFT, then 1 epoch GRPO, repeating
    kinds = [step(c, s, epoch=e) for s, e in enumerate([0, 0, 1, 1, 2, 2, 3, 4, 5, 6])]
    assert kinds == ["sft", "sft", "sft", "sft", "rl", "rl", "sft", "sft", "rl", "sft"]
    c = StaticHybridController(make_config(static_hybrid_sft=1, static_hybrid_rl=2, static_hybrid_repeat=True))
    assert [step(c, e, epoch=e) for e in range(6)] == ["sft", "rl", "rl"] * 2
    # default (SASR §4: one cycle): after 2 SFT epochs and 1 GRPO epoch, GRPO continues
    c = StaticHybridController(make_config())
    assert [step(c, e, epoch=e) for e in range(6)] == ["sft", "sft", "rl", "rl", "rl", "rl"]
    with pytest.raises(ValueError):
        StaticHybridController(make_config(static_hybrid_sft=0, static_hybrid_rl=0))
    with pytest.raises(ValueError, match="static_hybrid_unit"):
        StaticHybridController(make_config(static_hybrid_unit="days"))


def test_static_hybrid_in_steps_and_fractions():
    # steps: 3 SFT steps, 2 GRPO steps, repeating; epochs are ignored
    c = StaticHybridController(make_config(static_hybrid_unit="step", static_hybrid_sft=3, static_hybrid_rl=2,
                                           static_hybrid_repeat=True))
    assert [step(c, s) for s in range(7)] == ["sft"] * 3 + ["rl"] * 2 + ["sft"] * 2
    # fractions of a 100-step run: SFT while step / 100 < 2/3 (steps 0..66), then GRPO; a
    # 100-step run over 1,000 rows is no longer pure SFT
    c = StaticHybridController(make_config(static_hybrid_unit="fraction", static_hybrid_sft=2 / 3,
                                           static_hybrid_rl=1 / 3))
    kinds = [step(c, s) for s in range(100)]
    assert kinds.index("rl") == 67 and kinds.count("sft") == 67
    with pytest.raises(ValueError, match="<= 1"):
        StaticHybridController(make_config(static_hybrid_unit="fraction", static_hybrid_sft=1.0))


# --- edges the mutation run found unpinned -------------------------------------------

def test_sasr_probability_at_and_near_a_zero_denominator():
    # G_last = G_warmup = 0: denominator 0 + 1·0 = 0 -> p = 1 (SFT), not 0/0
    assert sasr_probability(0.0, 0.0, 1.0) == 1.0
    # a denominator in (0, 1) is an ordinary division: 0.25 / (0.25 + 1·0.25) = 0.5
    assert sasr_probability(0.25, 0.25, 1.0) == pytest.approx(0.5)


def test_ssr_cosine_probability_of_a_one_step_run():
    # S = 1, s = 1: cos(π·1/1) = -1 -> I = L = 0.1 (a floor of 2 on S would give cos(π/2) = 0 -> 0.5)
    assert ssr_cosine_probability(1, 1, 0.9, 0.1) == pytest.approx(0.1)


def test_every_step_switch_controller_keeps_its_config_and_reports_its_choice():
    cfg = make_config(sasr_warmup_steps=1)
    for cls in (SASRController, SSRController, SSRCosineController, StaticHybridController):
        c = cls(cfg)
        assert c.config is cfg
        # before any step: no SFT step chosen yet
        assert c.metrics()["sft_fraction"] == 0.0 and c.state_dict()["sft"] is False
        cx = ctx(0)
        needs = c.needs(cx)  # step 0 is SFT for all four (warm-up, even step, p(0) = U = 1, epoch 0)
        assert needs.rollouts is False and needs.rollouts_per_prompt is None
        [u] = c.plan(cx, demo_only(make_rows(2)))
        assert u.kind == "sft" and c.metrics()["sft_fraction"] == 1.0 and c.state_dict()["sft"] is True
        # an RL step: rollouts True, one "rl" update with the GRPO term
        c._sft = False
        [u] = c.plan(cx, make_batch(make_rows(2), [[1, 0], [0, 0]]))
        assert u.kind == "rl" and c.metrics()["sft_fraction"] == 0.0


def test_step_switch_controllers_restore_their_choice():
    for cls in (SSRController, StaticHybridController):
        c = cls(make_config())
        c.load_state_dict({"sft": True})
        assert c.metrics() == {"sft_fraction": 1.0}
    c = SSRCosineController(make_config(ssr_cosine_upper=0.8))
    assert c.metrics() == {"sft_fraction": 0.0, "ssr_cosine/p_sft": 0.8}  # p starts at U
    state = {"sft": True, "p": 0.25, "rng": torch.Generator().manual_seed(1).get_state()}
    c.load_state_dict(state)
    assert c.metrics() == {"sft_fraction": 1.0, "ssr_cosine/p_sft": 0.25}
    c = SASRController(make_config())
    assert c.metrics() == {"sft_fraction": 0.0, "sasr_p": 1.0, "grad_norm_sft": None, "sasr/g_warmup": None}
    c.load_state_dict({"sft": True, "p": 0.4, "g_warmup": 3.0, "g_last": 2.0,
                       "rng": torch.Generator().manual_seed(1).get_state()})
    assert c.metrics() == {"sft_fraction": 1.0, "sasr_p": 0.4, "grad_norm_sft": 2.0, "sasr/g_warmup": 3.0}


def test_sasr_without_g_last_stays_in_warm_up():
    # G_warmup known but no G_last (e.g. restored from a state that had none): p = 1, SFT, no draw
    c = SASRController(make_config(sasr_warmup_steps=0, sasr_gamma=1e12))
    c.g_warmup, c.g_last = 2.0, None
    assert c.needs(ctx(5)).rollouts is False and c.p == 1.0


def test_sasr_skipped_update_with_a_finite_norm_is_ignored():
    # the loop skips an update for a non-finite loss even when the grad norm it reports is finite
    c = SASRController(make_config(sasr_warmup_steps=2))
    step(c, 0, 2.0)
    step(c, 1, 7.0, skipped=True)
    assert c.g_last == 2.0 and c.g_warmup == 2.0
    # and an RL feedback never counts, whatever its norm
    c.observe(ctx(2), Feedback(kind="rl", grad_norm=9.0))
    assert c.g_last == 2.0


def test_static_hybrid_validation_edges_and_messages():
    # one of the lengths may be 0 if the other is positive (pure SFT or pure GRPO)
    c = StaticHybridController(make_config(static_hybrid_unit="step", static_hybrid_sft=0, static_hybrid_rl=1))
    assert step(c, 0) == "rl"
    c = StaticHybridController(make_config(static_hybrid_unit="step", static_hybrid_sft=1, static_hybrid_rl=0))
    assert step(c, 0) == "sft"
    # a negative length is refused even when the sum is positive
    for sft, rl in ((-1, 2), (2, -1)):
        with pytest.raises(ValueError, match="^static_hybrid_sft / static_hybrid_rl: need >= 0 and a positive sum$"):
            StaticHybridController(make_config(static_hybrid_sft=sft, static_hybrid_rl=rl))
    with pytest.raises(ValueError, match="^static_hybrid_unit: unknown 'days'; choose one of epoch, step, fraction$"):
        StaticHybridController(make_config(static_hybrid_unit="days"))
    # fractions: 1.0 + 1e-9 is the tolerance itself (accepted); 1.5 is refused with the sum
    StaticHybridController(make_config(static_hybrid_unit="fraction", static_hybrid_sft=1.0 + 1e-9,
                                       static_hybrid_rl=0.0))
    with pytest.raises(ValueError, match=r"^static_hybrid_unit=fraction: static_hybrid_sft \+ static_hybrid_rl must be <= 1 \(got 1.5\)$"):  # 1.0 + 0.5
        StaticHybridController(make_config(static_hybrid_unit="fraction", static_hybrid_sft=1.0,
                                           static_hybrid_rl=0.5))


def test_sasr_sft_is_eq2_token_sum_per_demonstration_by_default():
    # eq. 2: L_SFT = −E[Σ_t log π(y_t)]. Two demonstrations of 2 and 3 tokens, every token's
    # −log π = 1: sum per sequence 2 and 3, mean over sequences (2 + 3) / 2 = 2.5; d L / d ℓ_t
    # = 1/2 for every token. The token mean (sasr_sft_loss=mean) gives 5 / 5 = 1, 1/5 per token.
    from hybridrl.core.aggregation import agg_loss
    from hybridrl.core.presets import get_preset

    ell = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]], requires_grad=True)
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    for opt, value, grad in (("sum", 2.5, 0.5), ("mean", 1.0, 0.2)):
        c = SASRController(make_config(sasr_warmup_steps=2, sasr_sft_loss=opt))
        c.needs(ctx(0))  # a warm-up step: SFT
        [u] = c.plan(ctx(0), demo_only(make_rows(2)))
        [term] = u.terms
        loss = agg_loss(ell, mask, get_preset(term.preset).agg_mode)
        ell.grad = None
        loss.backward()
        assert float(loss) == pytest.approx(value)
        assert ell.grad[mask.bool()].tolist() == pytest.approx([grad] * 5)
    # SSR's schedule keeps the token mean; an unknown choice is refused
    assert SSRController(make_config()).sft_preset == "sft"
    with pytest.raises(ValueError, match="sasr_sft_loss"):
        SASRController(make_config(sasr_sft_loss="median"))
