"""agg_loss: hand values, global counts, micro-batch / rank invariance, masked garbage."""

import pytest
import torch

from hybridrl.core.aggregation import AGG_MODES, agg_loss

NAN, INF = float("nan"), float("inf")


def _example():
    # two sequences, the second one token shorter; garbage at its padded position
    loss = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, NAN]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    return loss, mask


@pytest.mark.parametrize(
    "mode,expected",
    [
        ("token-mean", 3.0),  # (1+2+3+4+5) / 5 tokens = 15/5
        ("seq-mean-token-mean", 3.25),  # (6/3 + 9/2) / 2 = (2 + 4.5) / 2
        ("seq-mean-token-sum", 7.5),  # (6 + 9) / 2
        ("seq-mean-token-sum-norm", 2.5),  # (6 + 9) / T=3 / 2
        ("token-sum-norm", 5.0),  # (6 + 9) / T=3, no division by the 2 sequences
        ("seq-sum-token-mean", 6.5),  # 6/3 + 9/2 = 2 + 4.5, summed not averaged
    ],
)
def test_hand_values(mode, expected):
    loss, mask = _example()
    assert agg_loss(loss, mask, mode).item() == pytest.approx(expected, abs=1e-6)


def test_empty_rows_do_not_count_as_sequences():
    loss, mask = _example()
    loss = torch.cat([loss, torch.tensor([[7.0, INF, 7.0]])])
    mask = torch.cat([mask, torch.zeros(1, 3, dtype=mask.dtype)])
    # same as without the fully masked row: it adds 0 and is not a sequence
    assert agg_loss(loss, mask, "seq-mean-token-mean").item() == pytest.approx(3.25, abs=1e-6)
    assert agg_loss(loss, mask, "seq-mean-token-sum").item() == pytest.approx(7.5, abs=1e-6)


def test_global_counts_and_max_len():
    loss, mask = _example()
    # 15 / 10 global tokens
    assert agg_loss(loss, mask, "token-mean", num_tokens=10).item() == pytest.approx(1.5, abs=1e-6)
    # (2 + 4.5) / 4 global sequences
    assert agg_loss(loss, mask, "seq-mean-token-mean", num_seqs=4).item() == pytest.approx(1.625, abs=1e-6)
    # 15 / 5 sequences
    assert agg_loss(loss, mask, "seq-mean-token-sum", num_seqs=torch.tensor(5)).item() == pytest.approx(3.0, abs=1e-6)
    # 15 / max_len 10 / 2 sequences
    assert agg_loss(loss, mask, "seq-mean-token-sum-norm", max_len=10).item() == pytest.approx(0.75, abs=1e-6)


def test_empty_batch_is_zero_not_nan():
    loss = torch.full((2, 3), NAN)
    mask = torch.zeros(2, 3)
    for mode in AGG_MODES:
        assert agg_loss(loss, mask, mode).item() == 0.0


def test_unknown_mode_lists_valid_ones():
    loss, mask = _example()
    with pytest.raises(ValueError, match="token-mean"):
        agg_loss(loss, mask, "mean")


def _random_batch(seed, n=7, t=9):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(0, t + 1, (n,), generator=g)  # includes an empty row sometimes
    lengths[0] = t
    mask = torch.arange(t)[None, :] < lengths[:, None]  # right-padded
    theta = torch.randn(n, t, generator=g, dtype=torch.float64, requires_grad=True)
    return theta, mask


def _loss_mat(theta):
    return torch.sin(theta) * theta  # any nonlinear per-token loss


@pytest.mark.parametrize("mode", AGG_MODES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_microbatch_and_rank_split_equals_whole_batch(mode, seed):
    theta, mask = _random_batch(seed)
    max_len = mask.shape[1]
    whole = agg_loss(_loss_mat(theta), mask, mode, max_len=max_len)
    (g_whole,) = torch.autograd.grad(whole, theta)

    num_tokens = mask.sum()
    num_seqs = (mask.sum(-1) > 0).sum()
    # 2 simulated ranks x uneven micro-batches; each micro-batch trimmed to its own padding
    ranks = [[[0, 1], [2]], [[3, 4, 5], [6]]]
    world = len(ranks)
    per_rank_grads, total = [], 0.0
    for rank in ranks:
        rank_loss = 0.0
        for rows in rank:
            sub_mask = mask[rows]
            width = max(int(sub_mask.sum(-1).max()), 1)
            sub = agg_loss(
                _loss_mat(theta[rows, :width]), sub_mask[:, :width], mode,
                num_tokens=num_tokens, num_seqs=num_seqs, max_len=max_len,
            )
            rank_loss = rank_loss + sub
        total = total + rank_loss
        # DDP averages gradients over ranks, so each rank scales its loss by W
        (g,) = torch.autograd.grad(world * rank_loss, theta)
        per_rank_grads.append(g)
    assert torch.allclose(total, whole, atol=1e-12, rtol=0)
    g_ddp = torch.stack(per_rank_grads).mean(0)
    assert torch.allclose(g_ddp, g_whole, atol=1e-12, rtol=0)


@pytest.mark.parametrize("mode", AGG_MODES)
def test_garbage_at_masked_positions_changes_nothing(mode):
    theta, mask = _random_batch(3)
    clean = torch.where(mask, _loss_mat(theta), torch.zeros_like(theta))
    dirty = torch.where(mask, _loss_mat(theta), torch.full_like(theta, NAN))
    dirty = torch.where(mask | (theta > 0), dirty, torch.full_like(theta, INF))
    a, b = agg_loss(clean, mask, mode), agg_loss(dirty, mask, mode)
    (ga,) = torch.autograd.grad(a, theta)
    (gb,) = torch.autograd.grad(b, theta)
    assert torch.equal(a, b)
    assert torch.equal(ga, gb)
    assert torch.isfinite(gb).all()


def test_global_counts_keep_the_loss_dtype():
    # a float64 loss divided by a count above 2^24 (not exact in float32): 16777217 / 16777217 = 1
    n = 2**24 + 1
    loss = torch.full((1, 1), float(n), dtype=torch.float64)
    assert agg_loss(loss, torch.ones(1, 1), "token-mean", num_tokens=n).item() == 1.0
