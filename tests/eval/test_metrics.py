import itertools
import math

import pytest

from hybridrl.eval.evaluate import summarize
from hybridrl.eval.metrics import bootstrap_ci, ema, exclusive_solves, pass_at_k, pass_at_k_curve


def test_pass_at_k_by_hand():
    # n=8, c=3, k=4: 1 - C(5,4)/C(8,4) = 1 - 5/70
    assert pass_at_k(8, 3, 4) == pytest.approx(1 - 5 / 70, abs=1e-12)
    assert pass_at_k(8, 3, 4) == pytest.approx(1 - math.comb(5, 4) / math.comb(8, 4), abs=1e-12)
    # k=1 is the plain fraction correct: 1 - C(5,1)/C(8,1) = 3/8
    assert pass_at_k(8, 3, 1) == pytest.approx(3 / 8, abs=1e-12)
    # c=0: no k-subset holds a correct sample
    assert pass_at_k(8, 0, 4) == 0.0
    # c=n: every subset does
    assert pass_at_k(8, 8, 4) == 1.0
    # n-c < k: every 6-subset of 8 with 3 correct contains one (only 5 wrong)
    assert pass_at_k(8, 3, 6) == 1.0


def test_pass_at_k_rejects_bad_counts():
    with pytest.raises(ValueError):
        pass_at_k(4, 5, 1)
    with pytest.raises(ValueError):
        pass_at_k(4, 1, 8)


def test_pass_at_k_curve_means_over_questions():
    # two questions, n=4: c=1 and c=4
    # k=1: (1/4 + 1)/2 = 0.625; k=2: (1 - C(3,2)/C(4,2) = 1 - 3/6 = 0.5, and 1) -> 0.75; k=4: (1 + 1)/2 = 1
    curve = pass_at_k_curve(4, [1, 4])
    assert list(curve) == [1, 2, 4]
    assert curve[1] == pytest.approx(0.625)
    assert curve[2] == pytest.approx(0.75)
    assert curve[4] == pytest.approx(1.0)


def test_ema_by_hand():
    # alpha 0.5: s0 = 0, s1 = 0.5*1 + 0.5*0 = 0.5, s2 = 0.5*1 + 0.5*0.5 = 0.75, s3 = 0.5*0 + 0.5*0.75 = 0.375
    assert ema([0, 1, 1, 0], alpha=0.5) == pytest.approx([0.0, 0.5, 0.75, 0.375], abs=1e-12)
    # alpha 1 is the raw series
    assert ema([3, 1, 2], alpha=1.0) == [3.0, 1.0, 2.0]
    assert ema([], alpha=0.3) == []
    with pytest.raises(ValueError):
        ema([1.0], alpha=0.0)


def _row(i, diff, ok):
    return {"id": f"q{i}", "task": "kk", "difficulty": diff, "greedy_correct": ok}


def test_exclusive_solves_by_hand():
    ours = [_row(0, 2, True), _row(1, 2, True), _row(2, 2, False), _row(3, 3, True), _row(4, 3, False),
            _row(5, 3, True)]
    theirs = [_row(0, 2, True), _row(1, 2, False), _row(2, 2, True), _row(3, 3, False), _row(4, 3, True),
              _row(5, 3, False), _row(9, 3, True)]  # q9 only on their side: ignored
    ex = exclusive_solves(ours, theirs)
    # level 2: q1 ours only (+1), q2 theirs only (-1), q0 both
    assert ex["kk/2"] == {"n": 3, "plus": 1, "minus": 1}
    # level 3: q3, q5 ours only (+2), q4 theirs only (-1)
    assert ex["kk/3"] == {"n": 3, "plus": 2, "minus": 1}
    assert ex["overall"] == {"n": 6, "plus": 3, "minus": 2}
    assert list(ex) == ["kk/2", "kk/3", "overall"]


def test_summarize_breakdown_and_pass_at_k():
    rows = [
        {"id": "a", "task": "kk", "difficulty": 2, "greedy_correct": True, "sample_correct": 2},
        {"id": "b", "task": "kk", "difficulty": 2, "greedy_correct": False, "sample_correct": 0},
        {"id": "c", "task": "kk", "difficulty": 3, "greedy_correct": True, "sample_correct": 4},
        {"id": "d", "task": "kk", "difficulty": 3, "greedy_correct": False, "sample_correct": 1},
    ]
    s = summarize(rows, samples=4, ks=(1, 2))
    assert s["greedy_accuracy"] == 0.5
    # avg@4 = (2 + 0 + 4 + 1) / 16 = 7/16
    assert s["avg@4"] == pytest.approx(7 / 16)
    # pass@2 per question: 1 - C(2,2)/C(4,2) = 5/6; 0; 1; 1 - C(3,2)/C(4,2) = 1/2 -> mean (5/6 + 0 + 1 + 1/2)/4
    assert s["pass@2"] == pytest.approx((5 / 6 + 0 + 1 + 0.5) / 4)
    lo, hi = s["pass@2_ci95"]
    assert 0 <= lo <= s["pass@2"] <= hi <= 1
    # the CI is the percentile bootstrap of those 4 per-question values: (5/24, 11/12), see
    # test_bootstrap_ci_agrees_with_the_exact_bootstrap_distribution; (0, 1) is not it
    assert (lo, hi) == pytest.approx(exact_bootstrap_ci([5 / 6, 0.0, 1.0, 0.5]), abs=0.03)
    assert s["breakdown"]["kk/2"]["greedy_accuracy"] == 0.5 and s["breakdown"]["kk/2"]["n"] == 2
    assert s["breakdown"]["kk/3"]["avg@4"] == pytest.approx(5 / 8)
    assert "rows" not in s["breakdown"]["kk/3"]


# --- bootstrap confidence intervals ---------------------------------------------------------


def exact_bootstrap_ci(values, alpha=0.05):
    """The percentile interval of the *exact* bootstrap distribution of the mean: all n^n
    equally likely resamples enumerated (small n only); quantile q = the smallest mean m with
    P(mean <= m) >= q."""
    n = len(values)
    means = sorted(sum(c) / n for c in itertools.product(values, repeat=n))

    def quantile(q):
        return next(m for i, m in enumerate(means) if (i + 1) / len(means) >= q)

    return quantile(alpha / 2), quantile(1 - alpha / 2)


def test_bootstrap_ci_of_a_constant_is_that_constant():
    # every resample of [0.7] * 10 has mean 0.7: the interval has no width
    assert bootstrap_ci([0.7] * 10) == pytest.approx((0.7, 0.7), abs=1e-12)
    assert bootstrap_ci([]) != bootstrap_ci([])  # (nan, nan): no data, no interval


def test_bootstrap_ci_agrees_with_the_exact_bootstrap_distribution():
    # [5/6, 0, 1, 1/2]: 4^4 = 256 resamples. Means <= 1/8: 1 (all 0) + 4 (one 1/2, three 0)
    # = 5/256 = 0.0195 < 0.025; <= 5/24 (one 5/6, three 0): 9/256 = 0.035 >= 0.025 -> lo = 5/24.
    # Means >= 23/24: 4 (three 1, one 5/6) + 1 (all 1) = 5/256; >= 0.875 adds 8 and 6 ... so
    # P(mean <= 0.875) = 245/256 = 0.957 < 0.975 <= P(mean <= 11/12) = 251/256 = 0.980 -> hi = 11/12.
    values = [5 / 6, 0.0, 1.0, 0.5]
    assert exact_bootstrap_ci(values) == pytest.approx((5 / 24, 11 / 12), abs=1e-12)
    # 1000 resamples land on the same atoms (the neighbours are >= 1/24 = 0.042 away)
    assert bootstrap_ci(values) == pytest.approx((5 / 24, 11 / 12), abs=0.03)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("alpha,z", [(0.05, 1.960), (0.10, 1.645), (0.50, 0.674)])
def test_bootstrap_ci_width_matches_the_normal_interval(alpha, z, seed):
    # 50 of 100 questions right: mean 0.5, standard error sqrt(0.5 * 0.5 / 100) = 0.05, so the
    # (1 - alpha) interval is about 0.5 -/+ z * 0.05: 95% (0.402, 0.598), 90% (0.418, 0.582),
    # 50% (0.466, 0.534). The bootstrap means move in steps of 0.01; 1000 resamples add about
    # one step of noise, hence abs=0.012 (a 90% interval reported as 95% is 0.016 off).
    lo, hi = bootstrap_ci([1.0] * 50 + [0.0] * 50, alpha=alpha, seed=seed)
    assert lo == pytest.approx(0.5 - z * 0.05, abs=0.012)
    assert hi == pytest.approx(0.5 + z * 0.05, abs=0.012)
