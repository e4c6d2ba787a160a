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
    """Plan one step; the structure tests below pin the ``term_mean`` balance (the default until
    the one-question-one-vote fix), the ``question`` default has its own tests further down."""
    opts.setdefault("hpt_balance", "term_mean")
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
    # the terms that share Σ / max_len (rollouts and off-policy demonstrations) are grouped
    assert t["pg"].norm_group == "rl" and t["sft"].norm_group is None
    m = c.metrics()
    # paper's sample-level fraction: demonstrations / (demonstrations + kept rollouts)
    #   gamma 0: 1 / (1 + 16) ; gamma 1 and 2: 2 / (2 + 8)
    assert m["sft_fraction"] == pytest.approx(len(sft_rows) / (len(sft_rows) + 8 * len(rl_rows)))
    assert m["sft_prompt_share"] == pytest.approx(len(sft_rows) / 3)  # prompt level (Σ β / P)
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
    assert update.kind == "sft" and c.metrics()["sft_fraction"] == 1.0  # 2 / (2 + 0)


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
    assert c.metrics()["sft_prompt_share"] == pytest.approx((1 + 0.875 + 0.625) / 3)
    assert c.metrics()["sft_fraction"] == pytest.approx(3 / (3 + 16))  # 3 demos, 16 kept rollouts


def test_off_and_mix_variants():
    c, update = plan_hpt(hpt_variant="off", hpt_gamma=1)
    t = terms_by_name(update)
    assert set(t) == {"pg", "off"}
    assert t["off"].preset == "luffy_off_policy" and t["off"].source == "demo"
    assert t["off"].indices.tolist() == [0, 1]
    assert t["off"].advantages.tolist() == [1.0, 1.0]  # the demo's one-sample group: A = R(τ*) = 1
    # official: one Σ / max_len over rollouts and the off-policy demonstration tokens
    assert t["off"].norm_group == t["pg"].norm_group == "rl"
    assert update.weighting.weight("off") == 1.0
    c, update = plan_hpt(hpt_variant="mix", hpt_gamma=1)
    t = terms_by_name(update)
    assert set(t) == {"pg", "sft", "off"}
    assert t["sft"].indices.tolist() == t["off"].indices.tolist() == [0, 1]
    # 0.1 · SFT + 1.0 · off-policy (§5.4)
    assert update.weighting.weight("sft") == 0.1 and update.weighting.weight("off") == 1.0
    # hpt_sft_coef (official sft_loss_coef) multiplies the SFT term: 0.3 · 0.1 = 0.03
    _, update = plan_hpt(hpt_variant="mix", hpt_gamma=1, hpt_sft_coef=0.3)
    assert update.weighting.weight("sft") == pytest.approx(0.03)


def test_gated_prompt_without_demonstration_stays_on_rl():
    _, update = plan_hpt(demos=[False, True, True], hpt_gamma=1)
    t = terms_by_name(update)
    assert t["sft"].indices.tolist() == [1]  # prompt 0 has no τ*
    assert t["pg"].indices.tolist() == list(range(0, 8)) + list(range(16, 24))
    # prompt 0's rollouts all failed: Dr. GRPO advantages are 0, so it contributes nothing
    assert t["pg"].advantages[:8].tolist() == [0.0] * 8


def test_removal_of_sft_ed_questions():
    c, _ = plan_hpt(hpt_gamma=1)
    assert c.excluded_ids() == set()  # off by default
    c, _ = plan_hpt(hpt_gamma=1, hpt_remove_sft_solved=True)
    assert c.excluded_ids() == {"r0", "r1"}
    assert c.metrics()["hpt/num_excluded"] == 2
    # exclusions accumulate over steps
    rows = make_rows(3)
    rows[2].id = "r9"
    c.plan(ctx(1), make_batch(rows, [[1] * 8, [1] * 8, [0] * 8]))
    assert c.excluded_ids() == {"r0", "r1", "r9"}


def test_needs_rollouts_and_demos_and_rejects_bad_options():
    c = HPTController(make_config())
    n = c.needs(ctx(0))
    assert n.rollouts and n.rollouts_per_prompt is None
    with pytest.raises(ValueError):
        HPTController(make_config(hpt_variant="bogus"))
    with pytest.raises(ValueError):
        HPTController(make_config(hpt_alpha_fn="bogus"))


def test_only_rows_trained_by_sft_alone_are_removed():
    # linear: prompts 1 and 2 train both SFT (β > 0) and RL (α > 0): they stay; prompt 0 (P = 0)
    # trains SFT alone and is removed
    c, _ = plan_hpt(hpt_alpha_fn="linear", hpt_remove_sft_solved=True)
    assert c.excluded_ids() == {"r0"}
    # OFF/ON: a gated prompt trains off-policy RL, not SFT: nothing is "SFT-ed"
    c, _ = plan_hpt(hpt_variant="off", hpt_gamma=1, hpt_remove_sft_solved=True)
    assert c.excluded_ids() == set()


def test_three_way_gate():
    # official switch_gate = 0, switch_gate_off = 2: 0/8 -> SFT, 1/8 -> off-policy RL on τ*
    # (rollouts dropped), 3/8 -> on-policy RL
    c, update = plan_hpt(hpt_gamma=0, hpt_gamma_off=2)
    t = terms_by_name(update)
    assert set(t) == {"pg", "sft", "off"}
    assert t["sft"].indices.tolist() == [0]
    assert t["off"].indices.tolist() == [1] and t["off"].advantages.tolist() == [1.0]
    assert t["off"].preset == "luffy_off_policy" and t["off"].norm_group == "rl"
    assert t["pg"].indices.tolist() == list(range(16, 24))
    m = c.metrics()
    # samples: 1 SFT demo + 1 off demo + 8 rollouts = 10 (official uni/sft_data_ratio, off ratio)
    assert (m["sft_fraction"], m["off_fraction"]) == (pytest.approx(0.1), pytest.approx(0.1))
    with pytest.raises(ValueError, match="hpt_gamma_off"):
        HPTController(make_config(hpt_gamma=2, hpt_gamma_off=1))


def test_soft_tables():
    # 7 rollouts + the demonstration per prompt; counts 0, 1, 3 correct rollouts -> keys 1, 2, 4
    c = HPTController(make_config(hpt_alpha_fn="soft0", hpt_balance="term_mean"))
    assert c.needs(ctx(0)).rollouts_per_prompt == 7
    rows = make_rows(3)
    [u] = c.plan(ctx(0), make_batch(rows, [[0] * 7, [1] + [0] * 6, [1, 1, 1] + [0] * 4]))
    t = terms_by_name(u)
    # soft0: key 1 -> (0, 0, 1); key 2 -> (0.125, 0.5, 0.5); key 4 -> (0.5, 0.5, 0.125)
    assert t["pg"].indices.tolist() == list(range(7, 21))  # prompt 0 has on-coef 0
    assert t["pg"].seq_weights.tolist() == [0.125] * 7 + [0.5] * 7
    assert t["off"].indices.tolist() == [1, 2] and t["off"].seq_weights.tolist() == [0.5, 0.5]
    assert t["sft"].indices.tolist() == [0, 1, 2] and t["sft"].seq_weights.tolist() == [1.0, 0.5, 0.125]
    # advantages over rollouts ∪ τ* (no std): prompt 1 mean (1 + 1) / 8 = 0.25 -> 0.75, -0.25 x6;
    #   τ* 0.75 ; prompt 2 mean (3 + 1) / 8 = 0.5 -> τ* 0.5
    assert t["pg"].advantages[:7].tolist() == pytest.approx([0.75] + [-0.25] * 6)
    assert t["off"].advantages.tolist() == pytest.approx([0.75, 0.5])
    with pytest.raises(ValueError, match="n = 8"):
        HPTController(make_config(hpt_alpha_fn="soft1", group_size=4))


def test_official_balance_reproduces_the_official_per_sample_weights():
    """hpt_balance=official vs the official loss, one micro-batch per demonstration.

    Batch: prompts A and B gated (0/2 correct), demonstrations of 2 and 3 tokens; prompt C kept,
    2 rollouts of 3 and 1 tokens with rewards 1, 0; max_len L = 4; hpt_sft_coef c = 0.3.
    Per-token losses ℓ (any values): demonstrations [a1, a2], [b1, b2, b3]; rollouts
    [[r1, r2, r3], [s1]].

    Official (mix_actor.py, offline_loss_type "sft", loss_remove_token_mean=True), each
    demonstration in its own micro-batch and the rollouts in a third (gradient accumulation 1,
    micro-batch losses summed):
        micro-batch 1: c · masked_mean(ℓ_A) = 0.3 · (a1 + a2) / 2
        micro-batch 2: c · masked_mean(ℓ_B) = 0.3 · (b1 + b2 + b3) / 3
        micro-batch 3: Σ ℓ_rollout / L       = (r1 + r2 + r3 + s1) / 4
    so per token: A 0.15, B 0.1, rollouts 0.25 (one token mean over both demonstrations would
    give 0.3 / 5 = 0.06 to all five; Dr. GRPO would give 1 / 4 / 2 = 0.125 per rollout token).
    """
    from hybridrl.core.aggregation import agg_loss
    from hybridrl.core.presets import get_preset

    c, update = plan_hpt(correct=[[0, 0], [0, 0], [1, 0]], hpt_balance="official", hpt_sft_coef=0.3)
    t = terms_by_name(update)
    assert t["pg"].preset == "hpt_rl_official" and t["sft"].preset == "hpt_sft_official"
    assert t["sft"].indices.tolist() == [0, 1] and t["pg"].indices.tolist() == [4, 5]
    assert get_preset("hpt_rl_official").clip == "none"  # official loss_remove_clip=True
    demo = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]], requires_grad=True)  # ℓ = 1: unit grads
    demo_mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    roll = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]], requires_grad=True)
    roll_mask = torch.tensor([[1, 1, 1], [1, 0, 0]])
    w = update.weighting.weight("sft")  # c = 0.3
    # our loss as the loop forms it, weight × agg(preset's mode), with the batch split however
    # (here: both demonstrations in one micro-batch, the rollouts in two)
    ours = w * agg_loss(demo, demo_mask, get_preset("hpt_sft_official").agg_mode, max_len=4) \
        + agg_loss(roll[:1], roll_mask[:1], get_preset("hpt_rl_official").agg_mode, max_len=4) \
        + agg_loss(roll[1:], roll_mask[1:], get_preset("hpt_rl_official").agg_mode, max_len=4)
    ours.backward()
    # d loss / d ℓ = the per-sample weight of each token
    assert demo.grad.flatten().tolist() == pytest.approx([0.15, 0.15, 0.0, 0.1, 0.1, 0.1])
    assert roll.grad.flatten().tolist() == pytest.approx([0.25, 0.25, 0.25, 0.25, 0.0, 0.0])
    # term_mean keeps the layout-free means; the default is one question, one vote
    t = terms_by_name(plan_hpt(correct=[[0, 0], [0, 0], [1, 0]])[1])
    assert (t["pg"].preset, t["sft"].preset) == ("dr_grpo", "sft")
    [u] = HPTController(make_config()).plan(ctx(0), make_batch(make_rows(3), [[0, 0], [0, 0], [1, 0]]))
    t = terms_by_name(u)
    assert (t["pg"].preset, t["sft"].preset) == ("dr_grpo", "sft_sum_norm")


# --- edges the mutation run found unpinned -------------------------------------------

def test_soft_table_key_is_capped_at_8():
    from hybridrl.methods.hpt import soft_coefficients

    # key = correct + 1, capped at 8: 7 and 20 correct both read row 8 = (1, 0, 0) of soft0;
    # 1 correct reads row 2 = (0.125, 0.5, 0.5)
    on, off, sft = soft_coefficients(torch.tensor([7.0, 20.0, 1.0]), "soft0")
    assert (on.tolist(), off.tolist(), sft.tolist()) == ([1.0, 1.0, 0.125], [0.0, 0.0, 0.5], [0.0, 0.0, 0.5])
    assert on.dtype == off.dtype == sft.dtype == torch.float32


def test_row_key_is_the_id_or_the_position():
    from hybridrl.methods.hpt import row_key

    with_id, without = make_rows(1)[0], make_rows(1, ids=False)[0]
    assert row_key(with_id, 3) == "r0" and row_key(without, 3) == "#3"


def test_hpt_always_samples_and_restores_an_old_state_without_exclusions():
    for fn, k in (("switch", None), ("soft0", 7)):
        n = HPTController(make_config(hpt_alpha_fn=fn)).needs(ctx(0))
        assert n.rollouts is True and n.rollouts_per_prompt == k  # soft: the demonstration takes 1 of 8 places
    c = HPTController(make_config())
    c._excluded = {"r1"}
    c.load_state_dict({"metrics": {}})  # a checkpoint written before exclusions were saved
    assert c.excluded_ids() == set()


def test_feedback_default_and_linear_with_one_sample():
    c = torch.tensor([0.0, 1.0])
    # default fn = switch with γ = 0: α = 1[c > 0]
    alpha, beta = feedback_coefficients(c, torch.tensor([1.0, 1.0]), 0)
    assert alpha.tolist() == [0.0, 1.0] and beta.tolist() == [1.0, 0.0]
    # linear with one rollout per prompt: P = c / 1 (the clamp only guards n = 0)
    alpha, _ = feedback_coefficients(c, torch.tensor([1.0, 1.0]), 0, "linear")
    assert alpha.tolist() == [0.0, 1.0]


def test_hpt_kind_metrics_and_options_by_hand():
    cfg = make_config(hpt_gamma=1, hpt_sft_coef=0.0)  # a zero SFT coefficient is allowed
    c = HPTController(cfg)
    assert c.config is cfg
    # all three kinds: prompts 0 and 1 gated (SFT), 2 kept for RL -> hybrid
    [u] = c.plan(ctx(0), make_batch(make_rows(3), CORRECT))
    assert u.kind == "hybrid"
    # samples = 8 kept rollouts + 2 demonstrations: sft 2/10, off 0; β mean 2/3
    m = c.metrics()
    assert (m["sft_fraction"], m["off_fraction"], m["hpt/num_off"]) == (0.2, 0.0, 0)
    assert m["sft_prompt_share"] == pytest.approx(2 / 3)
    # OFF/ON: gated prompts train off-policy RL and no SFT term at all
    _, u = plan_hpt(hpt_variant="off", hpt_gamma=1)
    assert u.kind == "hybrid" and "sft" not in terms_by_name(u)
    # every prompt gated: demonstrations only -> "sft"; no prompt gated: "rl"
    c = HPTController(make_config(hpt_gamma=1))
    [u] = c.plan(ctx(0), make_batch(make_rows(2), [[0] * 4, [0] * 4]))
    assert u.kind == "sft"
    [u] = c.plan(ctx(0), make_batch(make_rows(2), [[1] * 4, [1] * 4]))
    assert u.kind == "rl"
    # a step without prompts or samples reports zeros, not 0 / 0
    c.plan(ctx(0), make_batch([], []))
    m = c.metrics()
    assert (m["sft_fraction"], m["off_fraction"], m["sft_prompt_share"]) == (0.0, 0.0, 0.0)


def test_hpt_three_way_band_edge_and_official_balance():
    # γ = 0, γ_off = 1: exactly 1 correct (= γ_off) is in the off-policy band (count <= γ_off)
    _, u = plan_hpt(correct=[[1, 0, 0, 0], [1, 1, 0, 0]], hpt_gamma=0, hpt_gamma_off=1)
    t = terms_by_name(u)
    assert t["off"].indices.tolist() == [0] and t["pg"].indices.tolist() == [4, 5, 6, 7]
    # official balance: the sum modes need no shared normaliser
    _, u = plan_hpt(hpt_balance="official", hpt_gamma=1)
    assert all(t.norm_group is None for t in u.terms)


def test_hpt_refuses_a_step_without_correctness():
    c = HPTController(make_config())
    for field in ("rollouts", "rewards", "correct"):
        data = make_batch(make_rows(1), [[1, 0]])
        setattr(data, field, None)
        with pytest.raises(AssertionError):
            c.plan(ctx(0), data)


# --- one question, one vote (eq. 13): the default balance ----------------------------------

class _OneProcess:
    def sum(self, values):
        return list(values)


def _term_totals(update, length=100, max_len=256):
    """Loss of each term with every per-token loss ℓ = 1 and every sequence `length` tokens,
    reduced as the loop does (global counts of ``build_term_states``, the preset's mode, the
    term's sequence weights, the update's weighting): the total weight of the term."""
    from hybridrl.core.aggregation import agg_loss
    from hybridrl.training.update.optimize import build_term_states
    from hybridrl.training.update.terms import Sequences

    def seqs(term):
        k = len(term.indices)
        return Sequences([[1]], torch.zeros(k, dtype=torch.long), torch.ones(k, length, dtype=torch.long),
                         torch.ones(k, length), None, torch.ones(k))

    out = {}
    for ts in build_term_states(update.terms, seqs, _OneProcess()):
        ptl = torch.ones(len(ts.seqs), length)
        if ts.term.seq_weights is not None:
            ptl = ptl * ts.term.seq_weights[:, None]
        val = agg_loss(ptl, ts.seqs.mask, ts.preset.agg_mode, num_tokens=ts.norm.tokens, num_seqs=ts.norm.seqs,
                       max_len=max_len)
        out[ts.term.name] = float(update.weighting.weight(ts.term.name) * val)
    return out


# 8 questions, n = 8 rollouts each, L = 100 tokens per rollout and demonstration, max_len 256:
# `gated` questions have no correct rollout (SFT on τ*), the others 1 of 8 (Dr. GRPO).
#   question:  RL = (8 − k)/8 · 100/256, SFT = k/8 · 100/256    -> 7 : 1 at k = 1, 1 : 1 at k = 4
#   term_mean: RL = Σ 100/256 / #rollouts = 0.390625, SFT = one token mean = 1   -> 0.39 : 1
#   official:  RL = (8 − k)·8·100/256 = (8 − k)·3.125, SFT = k · 1 (token mean each)
#              -> 21.875 : 1 at k = 1, 12.5 : 4 = 3.125 : 1 at k = 4
R = 100 / 256
EXPECTED_TOTALS = {
    "question": {0: (R, 0.0), 1: (7 / 8 * R, 1 / 8 * R), 4: (R / 2, R / 2), 8: (0.0, R)},
    "term_mean": {0: (R, 0.0), 1: (R, 1.0), 4: (R, 1.0), 8: (0.0, 1.0)},
    "official": {0: (25.0, 0.0), 1: (21.875, 1.0), 4: (12.5, 4.0), 8: (0.0, 8.0)},
}


@pytest.mark.parametrize("balance", sorted(EXPECTED_TOTALS))
@pytest.mark.parametrize("gated", [0, 1, 4, 8])
def test_total_rl_and_sft_weight_by_balance(balance, gated):
    correct = [[0] * 8] * gated + [[1] + [0] * 7] * (8 - gated)
    c = HPTController(make_config(hpt_balance=balance))
    [u] = c.plan(ctx(0), make_batch(make_rows(8), correct))
    got = _term_totals(u)
    rl, sft = EXPECTED_TOTALS[balance][gated]
    assert got.get("pg", 0.0) == pytest.approx(rl, rel=1e-6, abs=1e-9)
    assert got.get("sft", 0.0) == pytest.approx(sft, rel=1e-6, abs=1e-9)


def test_question_balance_weights_counts_and_paper_alias():
    # 3 questions: 0/8 correct (gated), 1/8 and 3/8 (RL). Each rollout weighs α/n = 1/8 and
    # counts 1/8 (8 sequences for the question); τ* weighs β = 1 and counts 1: num_seqs = 3.
    _, u = plan_hpt(hpt_balance="question")
    t = terms_by_name(u)
    assert (t["pg"].preset, t["sft"].preset) == ("dr_grpo", "sft_sum_norm")
    assert t["pg"].norm_group == t["sft"].norm_group == "question"
    assert t["pg"].seq_weights.tolist() == [0.125] * 16 and t["pg"].seq_counts.tolist() == [0.125] * 16
    assert t["sft"].seq_weights.tolist() == [1.0] and t["sft"].seq_counts.tolist() == [1.0]
    # linear feedback: question 1 (P = 1/8) has 8 rollouts and τ*: 9 sequences, each counts 1/9;
    # its rollouts weigh α/n = (1/8)/8, τ* β = 7/8
    _, u = plan_hpt(hpt_balance="question", hpt_alpha_fn="linear")
    t = terms_by_name(u)
    assert t["pg"].seq_weights[:8].tolist() == pytest.approx([1 / 64] * 8)
    assert t["pg"].seq_counts[:8].tolist() == pytest.approx([1 / 9] * 8)
    assert t["sft"].indices.tolist() == [0, 1, 2] and t["sft"].seq_weights.tolist() == [1.0, 0.875, 0.625]
    assert t["sft"].seq_counts.tolist() == pytest.approx([1.0, 1 / 9, 1 / 9])
    # OFF/ON: the gated question's RL group is τ* alone: off weight β / 1, count 1
    _, u = plan_hpt(hpt_balance="question", hpt_variant="off")
    t = terms_by_name(u)
    assert t["off"].indices.tolist() == [0] and t["off"].seq_weights.tolist() == [1.0]
    assert t["off"].seq_counts.tolist() == [1.0] and t["off"].norm_group == "question"
    # older config files said `paper` for today's term_mean
    assert HPTController(make_config(hpt_balance="paper")).balance == "term_mean"
