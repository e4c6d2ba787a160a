"""Advantage estimators: hand values and plain-Python loop oracles."""

import math
import statistics

import pytest
import torch

from hybridrl.core.advantages import (
    ADVANTAGES,
    dr_grpo_advantages,
    gae_advantages,
    grpo_advantages,
    reinforce_advantages,
    rloo_advantages,
    sequence_entropy,
    srft_weights,
)

NAN = float("nan")


# ---------------------------------------------------------------- hand values
def test_grpo_hand_values_unbiased_std():
    r = torch.tensor([1.0, 0.0, 0.0, 0.0])
    g = torch.tensor([5, 5, 5, 5])
    # mean 0.25; unbiased var = (0.75^2 + 3 * 0.25^2) / 3 = 0.75 / 3 = 0.25 -> std 0.5
    # A = [0.75, -0.25, -0.25, -0.25] / (0.5 + 1e-6)
    expected = torch.tensor([0.75, -0.25, -0.25, -0.25]) / 0.500001
    assert torch.allclose(grpo_advantages(r, g), expected, atol=1e-6, rtol=0)


def test_grpo_population_std_option():
    r = torch.tensor([1.0, 0.0, 0.0, 0.0])
    g = torch.zeros(4, dtype=torch.long)
    # population var = 0.75 / 4 = 0.1875 -> std 0.4330127; A_0 = 0.75 / 0.4330127 = sqrt(3)
    a = grpo_advantages(r, g, unbiased=False, eps=0.0)
    assert a[0].item() == pytest.approx(math.sqrt(3), abs=1e-6)
    assert a[1].item() == pytest.approx(-1 / math.sqrt(3), abs=1e-6)


def test_grpo_degenerate_groups_are_zero():
    # group 9: all equal -> 0/(0+eps) = 0;  group 4: single completion -> 0
    r = torch.tensor([1.0, 1.0, 1.0, 0.7])
    g = torch.tensor([9, 9, 9, 4])
    assert torch.equal(grpo_advantages(r, g), torch.zeros(4))
    assert torch.equal(rloo_advantages(r, g)[3:], torch.zeros(1))


def test_grpo_unequal_interleaved_groups_arbitrary_ids():
    # group 100 = {1, 0} (indices 0, 2); group -3 = {1, 1, 0} (indices 1, 3, 4)
    r = torch.tensor([1.0, 1.0, 0.0, 1.0, 0.0])
    g = torch.tensor([100, -3, 100, -3, -3])
    a = grpo_advantages(r, g, eps=0.0)
    # group 100: mean .5, unbiased std sqrt(.5) -> ±0.5/0.7071068 = ±0.7071068
    assert a[0].item() == pytest.approx(0.7071068, abs=1e-6)
    assert a[2].item() == pytest.approx(-0.7071068, abs=1e-6)
    # group -3: mean 2/3, unbiased var = (2 * (1/3)^2 + (2/3)^2) / 2 = 1/3, std 0.5773503
    # A = (1/3)/0.5773503 = 0.5773503 ; (-2/3)/0.5773503 = -1.1547005
    assert a[1].item() == pytest.approx(0.5773503, abs=1e-6)
    assert a[4].item() == pytest.approx(-1.1547005, abs=1e-6)


def test_dr_grpo_and_rloo_hand_values():
    r = torch.tensor([1.0, 0.0, 0.0, 0.0])
    g = torch.zeros(4, dtype=torch.long)
    # R - mean = R - 0.25
    assert torch.allclose(dr_grpo_advantages(r, g), torch.tensor([0.75, -0.25, -0.25, -0.25]), atol=1e-7)
    # A_0 = 1 - (0+0+0)/3 = 1 ; A_1 = 0 - (1+0+0)/3 = -1/3
    assert torch.allclose(rloo_advantages(r, g), torch.tensor([1.0, -1 / 3, -1 / 3, -1 / 3]), atol=1e-7)


def test_reinforce_is_plus_minus_one():
    # > 0.5 -> +1 ; 0.5 itself is not above the threshold -> -1
    r = torch.tensor([1.0, 0.0, 0.5, 0.7])
    assert torch.equal(reinforce_advantages(r), torch.tensor([1.0, -1.0, -1.0, 1.0]))
    assert torch.equal(reinforce_advantages(r, threshold=0.8), torch.tensor([1.0, -1.0, -1.0, -1.0]))


def test_gae_hand_values():
    # one sequence of 2 valid tokens, garbage at the padded position
    rewards = torch.tensor([[0.0, 1.0, NAN]])
    values = torch.tensor([[0.5, 0.4, NAN]])
    mask = torch.tensor([[1, 1, 0]])
    adv, ret = gae_advantages(rewards, values, mask, gamma=1.0, lam=0.5)
    # t=1: δ = 1 + 1*0 - 0.4 = 0.6 ; A_1 = 0.6
    # t=0: δ = 0 + 1*0.4 - 0.5 = -0.1 ; A_0 = -0.1 + 1*0.5*0.6 = 0.2
    assert torch.allclose(adv, torch.tensor([[0.2, 0.6, 0.0]]), atol=1e-7)
    # returns = A + V = [0.7, 1.0]
    assert torch.allclose(ret, torch.tensor([[0.7, 1.0, 0.0]]), atol=1e-7)


def test_srft_weights_hand_values():
    ent = torch.tensor([[1.0, 3.0, NAN]])
    mask = torch.tensor([[1, 1, 0]])
    # H = (1 + 3) / 2 = 2 ; SFT weight 0.5 e^-2 = 0.0676676
    assert srft_weights(ent, mask).tolist() == pytest.approx([0.0676676], abs=1e-6)
    # a 0-dim entropy is used as H directly
    assert srft_weights(torch.tensor(2.0)).item() == pytest.approx(0.0676676, abs=1e-6)


def test_srft_weights_are_per_sequence():
    # official SRFT: H_i = masked_mean(entropy, mask, axis=-1), one per sequence
    ent = torch.tensor([[1.0, 3.0, NAN], [0.0, 0.0, 0.0], [0.5, NAN, NAN]])
    mask = torch.tensor([[1, 1, 0], [1, 1, 1], [1, 0, 0]])
    # H = [(1+3)/2, 0, 0.5] = [2, 0, 0.5]
    assert sequence_entropy(ent, mask).tolist() == pytest.approx([2.0, 0.0, 0.5], abs=1e-7)
    # SFT: 0.5 e^-H = [0.5 e^-2, 0.5, 0.5 e^-0.5] = [0.0676676, 0.5, 0.3032653]
    #   (a batch mean H = (1+3+0+0+0+0.5)/6 = 0.75 would give 0.2361833 for all three)
    assert srft_weights(ent, mask).tolist() == pytest.approx([0.0676676, 0.5, 0.3032653], abs=1e-6)
    # rollouts with R = [1, 1, 0]: 0.1 e^H = [0.7389056, 0.1], then -1
    w = srft_weights(ent, mask, rewards=torch.tensor([1.0, 1.0, 0.0]))
    assert w.tolist() == pytest.approx([0.7389056, 0.1, -1.0], abs=1e-6)


def test_srft_weights_are_detached():
    ent = torch.tensor([[1.0, 3.0]], requires_grad=True)
    w = srft_weights(ent, torch.ones(1, 2), rewards=torch.tensor([1.0]))
    assert not w.requires_grad


def test_gae_rejects_masks_with_holes():
    v = torch.zeros(2, 4)
    r = torch.zeros(2, 4)
    ok = torch.tensor([[1, 1, 0, 0], [0, 0, 0, 0]])  # right-padded, and an empty row: fine
    gae_advantages(r, v, ok)
    holes = torch.tensor([[1, 1, 0, 0], [1, 0, 1, 0]])  # row 1: a tool-output hole
    with pytest.raises(ValueError, match="row 1 has holes"):
        gae_advantages(r, v, holes)


def test_registry():
    assert ADVANTAGES["grpo"] is grpo_advantages
    assert set(ADVANTAGES) == {"grpo", "dr_grpo", "rloo", "reinforce"}


# ---------------------------------------------------------------- loop oracles
def _random_groups(seed, binary):
    gen = torch.Generator().manual_seed(seed)
    n = int(torch.randint(5, 30, (1,), generator=gen))
    ids = torch.randint(-4, 6, (n,), generator=gen) * 7  # unequal sizes, arbitrary ids
    if binary:
        r = torch.randint(0, 2, (n,), generator=gen).double()
    else:
        r = torch.randn(n, generator=gen, dtype=torch.float64)
    return r, ids


def _groups(ids):
    out = {}
    for i, gid in enumerate(ids.tolist()):
        out.setdefault(gid, []).append(i)
    return out


def _oracle_grpo(r, ids, eps, scale_std):
    rl, out = r.tolist(), [0.0] * len(r)
    for members in _groups(ids).values():
        vals = [rl[i] for i in members]
        if len(vals) == 1:
            continue  # single completion: 0
        mean = sum(vals) / len(vals)
        std = statistics.stdev(vals)  # unbiased, like TRL
        for i in members:
            out[i] = (rl[i] - mean) / (std + eps) if scale_std else rl[i] - mean
    return torch.tensor(out, dtype=r.dtype)


def _oracle_rloo(r, ids):
    rl, out = r.tolist(), [0.0] * len(r)
    for members in _groups(ids).values():
        for i in members:
            others = [rl[j] for j in members if j != i]
            out[i] = rl[i] - sum(others) / len(others) if others else 0.0
    return torch.tensor(out, dtype=r.dtype)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("binary", [True, False])
def test_group_estimators_match_loop_oracle(seed, binary):
    r, ids = _random_groups(seed, binary)
    assert torch.allclose(grpo_advantages(r, ids), _oracle_grpo(r, ids, 1e-6, True), atol=1e-9)
    assert torch.allclose(dr_grpo_advantages(r, ids), _oracle_grpo(r, ids, 0.0, False), atol=1e-12)
    assert torch.allclose(rloo_advantages(r, ids), _oracle_rloo(r, ids), atol=1e-12)
    expected = torch.tensor([1.0 if x > 0.5 else -1.0 for x in r.tolist()], dtype=r.dtype)
    assert torch.equal(reinforce_advantages(r), expected)


def _oracle_gae(rew, val, mask, gamma, lam):
    n, t = rew.shape
    adv, ret = torch.zeros(n, t, dtype=rew.dtype), torch.zeros(n, t, dtype=rew.dtype)
    for i in range(n):
        length = int(mask[i].sum())
        running = 0.0
        for s in reversed(range(length)):
            next_v = val[i, s + 1].item() if s + 1 < length else 0.0
            delta = rew[i, s].item() + gamma * next_v - val[i, s].item()
            running = delta + gamma * lam * running
            adv[i, s] = running
            ret[i, s] = running + val[i, s].item()
    return adv, ret


@pytest.mark.parametrize("seed", range(4))
def test_gae_matches_loop_oracle(seed):
    gen = torch.Generator().manual_seed(seed)
    n, t = 5, 8
    lengths = torch.randint(0, t + 1, (n,), generator=gen)
    mask = torch.arange(t)[None] < lengths[:, None]
    rew = torch.randn(n, t, generator=gen, dtype=torch.float64)
    val = torch.randn(n, t, generator=gen, dtype=torch.float64)
    gamma, lam = [(1.0, 0.95), (0.9, 0.8), (0.99, 1.0), (1.0, 0.0)][seed]
    exp_adv, exp_ret = _oracle_gae(rew, val, mask, gamma, lam)
    # garbage at padded positions must not matter
    rew_dirty = torch.where(mask, rew, torch.full_like(rew, NAN))
    val_dirty = torch.where(mask, val, torch.full_like(val, float("inf")))
    adv, ret = gae_advantages(rew_dirty, val_dirty, mask, gamma=gamma, lam=lam)
    assert torch.allclose(adv, exp_adv, atol=1e-12)
    assert torch.allclose(ret, exp_ret, atol=1e-12)


# --- edges the mutation run found unpinned -------------------------------------------

def test_gae_defaults_are_gamma_1_lambda_1_and_lambda_095_by_hand():
    rewards = torch.tensor([[0.0, 1.0]])
    values = torch.tensor([[0.5, 0.4]])
    # defaults γ = λ = 1 (verl, official HPT PPO config):
    # t=1: δ = 1 - 0.4 = 0.6 = A_1; t=0: δ = 0 + 1·0.4 - 0.5 = -0.1, A_0 = -0.1 + 1·1·0.6 = 0.5
    adv, ret = gae_advantages(rewards, values, torch.ones(1, 2))
    assert adv[0].tolist() == pytest.approx([0.5, 0.6], abs=1e-6)
    assert ret[0].tolist() == pytest.approx([1.0, 1.0], abs=1e-6)  # A + V = the return R at every token
    # λ = 0.95: A_0 = -0.1 + 0.95·0.6 = 0.47
    adv, ret = gae_advantages(rewards, values, torch.ones(1, 2), lam=0.95)
    assert adv[0].tolist() == pytest.approx([0.47, 0.6], abs=1e-6)
    assert ret[0].tolist() == pytest.approx([0.97, 1.0], abs=1e-6)  # A + V


def test_gae_with_lambda_1_and_a_zero_critic_gives_every_token_the_reward():
    # V ≡ 0, R on the last real token, γ = λ = 1: δ_t = 0 except δ_last = R, so A_t = R for
    # every t (λ = 0.95 would give the first of 100 tokens 0.95^99 R = 0.0062 R)
    mask = torch.tensor([[1.0] * 100, [1.0] * 60 + [0.0] * 40])
    rewards = torch.zeros(2, 100)
    rewards[0, 99], rewards[1, 59] = 1.0, -0.5
    adv, ret = gae_advantages(rewards, torch.zeros(2, 100), mask)
    assert adv[0].tolist() == pytest.approx([1.0] * 100)
    assert adv[1].tolist() == pytest.approx([-0.5] * 60 + [0.0] * 40)
    a95, _ = gae_advantages(rewards, torch.zeros(2, 100), mask, lam=0.95)
    assert float(a95[0, 0]) == pytest.approx(0.95 ** 99, rel=1e-5) and float(a95[0, 0]) == pytest.approx(0.0062, abs=1e-4)


def test_gae_one_token_and_float64_precision():
    # T = 1: A = r - V = 1 - 0.25 = 0.75 (no next token)
    adv, _ = gae_advantages(torch.tensor([[1.0]]), torch.tensor([[0.25]]), torch.ones(1, 1))
    assert adv.tolist() == [[0.75]]
    # float64 stays float64 end to end: γλ = 0.9·0.8 = 0.72 exactly in float64 (0.72 in float32 is
    # 0.7200000286); r = [0, 1], V = 0: A_1 = 1, A_0 = 0 + 0.9·0 - 0 + 0.72·1 = 0.72
    adv, _ = gae_advantages(torch.tensor([[0.0, 1.0]], dtype=torch.float64), torch.zeros(1, 2, dtype=torch.float64),
                            torch.ones(1, 2), gamma=0.9, lam=0.8)
    assert adv.dtype == torch.float64 and adv[0, 0].item() == 0.9 * 0.8


def test_gae_names_the_first_row_with_holes():
    holes = torch.tensor([[1, 1, 1], [1, 0, 1], [0, 1, 1]])  # rows 1 and 2 have holes: row 1 is named
    with pytest.raises(ValueError, match=r"^gae_advantages: mask row 1 has holes \(a 0 between 1s\); GAE here needs "
                       r"right-padded masks \(multi-turn masks with tool tokens are not supported\)$"):
        gae_advantages(torch.zeros(3, 3), torch.zeros(3, 3), holes)


def test_reinforce_and_srft_weights_keep_the_reward_dtype():
    r = torch.tensor([1.0, 0.0], dtype=torch.float64)
    assert reinforce_advantages(r).dtype == torch.float64
    ent = torch.tensor([[2.0], [2.0]])  # float32 entropies, H = 2 for both
    # float64 rewards -> float64 weights: 0.1·e^2 = 0.7389056, then -1
    w = srft_weights(ent, torch.ones(2, 1), rewards=r)
    assert w.dtype == torch.float64 and w.tolist() == pytest.approx([0.7389056, -1.0], abs=1e-6)
    # integer (binary) rewards -> the entropy's dtype (not rounded to an integer weight 0)
    w = srft_weights(ent, torch.ones(2, 1), rewards=torch.tensor([1, 0]))
    assert w.dtype == torch.float32 and w.tolist() == pytest.approx([0.7389056, -1.0], abs=1e-6)


def test_srft_weights_without_a_mask_say_so():
    with pytest.raises(ValueError, match=r"^srft_weights needs `mask` to average \(N, T\) entropies per sequence$"):
        srft_weights(torch.ones(2, 3))
