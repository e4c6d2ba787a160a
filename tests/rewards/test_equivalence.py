import pytest

from hybridrl.rewards.equivalence import answers_match, parse_number

MATCH = [
    # (prediction, references, expected)
    ("0.5", ["1/2"], True),  # decimal vs slash fraction (exact Fraction)
    ("\\frac12", ["0.5"], True),  # \frac12 shorthand
    ("\\frac{1}{2}", ["1/2"], True),  # braced \frac
    ("\\dfrac{1}{2}", ["0.5"], True),  # \dfrac
    ("2x+4", ["4+2x"], True),  # symbolic, through math-verify
    ("1,000", ["1000"], True),  # digit groups
    ("−3", ["-3"], True),  # unicode minus
    ("$-3$", ["-3"], True),  # dollar signs
    ("\\text{Paris}", ["paris"], True),  # normalised exact string
    ("7", ["5", "7"], True),  # several accepted references
    ("0.50", ["1/2"], True),  # trailing zero
    ("3", ["-3"], False),  # sign matters
    ("0.33", ["1/3"], False),  # no float tolerance
    ("2x+5", ["4+2x"], False),  # wrong expression
    ("6", ["5"], False),  # wrong number
    ("", ["5"], False),  # empty prediction
    ("\\frac{1}{", ["1/2"], False),  # malformed LaTeX
    ("5", [], False),  # no references
]


@pytest.mark.parametrize("pred,refs,expected", MATCH)
def test_answers_match_in_process(pred, refs, expected):
    assert answers_match(pred, refs, timeout_s=None) is expected


@pytest.mark.parametrize(
    "s,value",
    [
        ("1,234", 1234),  # groups of three
        ("-1/4", -0.25),  # signed slash fraction
        ("\\frac{3}{4}", 0.75),  # latex fraction
        ("1/0", None),  # division by zero is not a number
        ("1,23", None),  # not a digit group
        ("x", None),  # not a number
    ],
)
def test_parse_number(s, value):
    assert parse_number(s) == value


def test_answers_match_guarded_times_out_as_no_match(monkeypatch):
    import time

    from hybridrl.rewards import pool

    t0 = time.perf_counter()
    assert answers_match("0.5", ["1/2"], timeout_s=60.0) is True  # the guarded path works
    cold = time.perf_counter() - t0  # first use starts the pool: a measure of this machine's load now
    # a comparison that does not finish in time is killed at the limit: the 1 s, plus a worker's
    # restart, which costs at most what the pool's start-up did (2 s of slack when idle; without
    # the kill this takes an hour)
    t0 = time.perf_counter()
    status, _ = pool.run_guarded(time.sleep, (3600,), timeout_s=1.0)
    assert status == "timeout" and time.perf_counter() - t0 < 1.0 + 2.0 + 2 * cold
    # answers_match reads a time-out (any status but "ok") as no match
    monkeypatch.setattr(pool, "run_guarded", lambda fn, args, timeout_s: ("timeout", None))
    assert answers_match("0.5", ["1/2"], timeout_s=1.0) is False
    # sympy would try to build 10^(10^(10^10)): the cost guard refuses it before sympy, no match
    assert answers_match("10^{10^{10^{10}}}", ["1"], timeout_s=None) is False
