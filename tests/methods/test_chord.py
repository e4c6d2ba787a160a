"""CHORD controller alone (#26): μ_t at the schedule's corners, the plan's weights and presets."""

import math

import pytest

from hybridrl.methods.chord import CHORDController, chord_mu
from integration_helpers import demo_logprobs, make_trainer, run, spy_plans, terms
from methods_test_helpers import ctx, make_batch, make_config, make_rows, terms_by_name

# the official example schedule (mix_chord.yaml): W = 200 warm-up, D = 400 decay, 0.5 -> 0.02
W, D, PEAK, VALLEY = 200, 400, 0.5, 0.02


@pytest.mark.parametrize("step,expected", [
    (0, 0.0),                        # warm-up starts at 0: 0.5 · 0/200
    (100, 0.25),                     # half-way up: 0.5 · 100/200
    (200, 0.5),                      # the peak: cos(0) = 1 -> 0.02 + 0.48 · 1
    (400, 0.02 + 0.48 * 0.5),        # half-way down: ½(1 + cos(π/2)) = ½ -> 0.26
    (500, 0.02 + 0.48 * 0.5 * (1 + math.cos(math.pi * 300 / 400))),  # ½(1 − 0.707107) = 0.146447 -> 0.090294
    (600, 0.02),                     # W + D: the floor
    (10_000, 0.02),                  # and after
])
def test_mu_at_the_corners_of_the_official_schedule(step, expected):
    assert chord_mu(step, W, D, PEAK, VALLEY) == pytest.approx(expected, abs=1e-12)


def test_mu_without_warmup_or_decay():
    # CHORD-φ (0, 0, 0.1, 0.1): a constant 0.1 from the first step; CHORD-μ (0, 200, 0.9, 0.05)
    assert [chord_mu(t, 0, 0, 0.1, 0.1) for t in (0, 1, 500)] == [0.1, 0.1, 0.1]
    assert chord_mu(0, 0, 200, 0.9, 0.05) == pytest.approx(0.9)
    assert chord_mu(100, 0, 200, 0.9, 0.05) == pytest.approx(0.475)  # 0.05 + 0.85 · ½
    assert chord_mu(200, 0, 200, 0.9, 0.05) == pytest.approx(0.05)


def test_plan_weights_rl_by_one_minus_mu_and_sft_by_mu():
    c = CHORDController(make_config(chord_mu_warmup_steps=2, chord_mu_decay_steps=2, chord_mu_peak=0.5,
                                    chord_mu_valley=0.1))
    rows = make_rows(2)
    data = make_batch(rows, [[1, 0, 0, 0], [0, 0, 0, 0]])
    mus = []
    for step in range(5):
        (u,) = c.plan(ctx(step), data)
        mus.append(c.metrics()["chord_mu"])
        # (1 − μ)·L_GRPO + μ·L_SFT*
        assert u.weighting.weight("pg") == pytest.approx(1 - mus[-1]) and u.weighting.weight("sft") == mus[-1]
    # warm-up 0, 0.25; peak 0.5; cosine: 0.1 + 0.4 · ½(1 + cos(π/2)) = 0.3; floor 0.1
    assert mus == pytest.approx([0.0, 0.25, 0.5, 0.3, 0.1])
    by = terms_by_name(u)
    assert by["pg"].preset == "grpo" and by["pg"].source == "rollout"
    assert by["sft"].preset == "chord_sft" and by["sft"].indices.tolist() == [0, 1]
    assert c.metrics()["sft_fraction"] == pytest.approx(2 / 10)  # 2 demonstrations, 8 rollouts


def test_phi_off_is_the_plain_sft_term_and_bad_values_fail():
    c = CHORDController(make_config(chord_phi=False))
    (u,) = c.plan(ctx(0), make_batch(make_rows(1), [[1, 0]]))
    assert terms_by_name(u)["sft"].preset == "sft"  # follows sft_loss_type (dft = Trinity's sft_is)
    with pytest.raises(ValueError, match="chord_mu_peak"):
        CHORDController(make_config(chord_mu_peak=1.5))
    with pytest.raises(ValueError, match="warmup"):
        CHORDController(make_config(chord_mu_warmup_steps=-1))


# --- the real loop on the tiny model (integration) ---------------------------------------------


def test_chord_mixes_grpo_and_phi_weighted_sft_by_its_schedule(tmp_path):
    # μ: no warm-up, cosine 0.6 -> 0.2 over 2 steps: 0.6, 0.2 + 0.4·½(1 + cos(π/2)) = 0.4, 0.2
    t = make_trainer(tmp_path, "chord", chord_mu_warmup_steps=0, chord_mu_decay_steps=2, chord_mu_peak=0.6,
                     chord_mu_valley=0.2, old_logprobs="sampling")
    demo = []
    seen = spy_plans(t, lambda data: demo.append(demo_logprobs(t, data.rows)))
    recs = run(t)
    assert [r["chord_mu"] for r in recs] == pytest.approx([0.6, 0.4, 0.2])
    for rec, (_, data, updates), (logp, _, mask) in zip(recs, seen, demo):
        # L_SFT* = token mean of −φ(p)·log p over the demonstration tokens, φ(p) = p(1 − p), p = π(τ*_t)
        p = logp.exp()
        want_sft = float((-(p * (1 - p)) * logp * mask).sum() / mask.sum())
        plain = float((-logp * mask).sum() / mask.sum())
        assert abs(want_sft - plain) > 0.5 * plain  # precondition: φ changes the loss (φ ≤ 1/4)
        assert rec["sft_loss"] == pytest.approx(want_sft, rel=1e-5)
        mu = rec["chord_mu"]
        assert rec["loss"] == pytest.approx((1 - mu) * rec["pg_loss"] + mu * rec["sft_loss"], rel=1e-6, abs=1e-9)
    # step 0 (ratio 1): the GRPO term is −Σ A_i L_i / Σ L_i over the rollouts
    _, data, updates = seen[0]
    a, lengths = terms(updates)["pg"].advantages, data.rollouts.completion_mask.sum(1)
    assert recs[0]["pg_loss"] == pytest.approx(float(-(a * lengths).sum() / lengths.sum()), abs=1e-6)
