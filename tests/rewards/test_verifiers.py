import logging

import pytest

from hybridrl.schema import Row
from hybridrl.rewards.verifiers import (
    FormatReward,
    KnightsKnavesVerifier,
    MathVerifier,
    ReasoningGymVerifier,
    UserReward,
    WeightedSum,
    get_verifier,
    load_user_reward,
)


def math_row(*answers):
    return Row(prompt="q", answer=list(answers))


MATH = [
    # (completion, references, expected score)
    ("... so \\boxed{\\frac{1}{2}}", ["0.5"], 1.0),  # equivalent form
    ("\\boxed{3} no wait \\boxed{4}", ["4"], 1.0),  # last box counts
    ("\\boxed{4} no wait \\boxed{3}", ["4"], 0.0),  # ... and only the last
    ("<answer>4</answer> \\boxed{5}", ["4"], 1.0),  # tags win
    ("I don't know", ["4"], 0.0),  # missing answer
    ("The answer is 1,000.", ["1000"], 1.0),  # last-number fallback with commas
    # several accepted references: 1 if the answer matches *any* of them, wherever it is
    ("\\boxed{7}", ["7", "8"], 1.0),  # the first reference
    ("\\boxed{8}", ["7", "8"], 1.0),  # not the first: the second
    ("\\boxed{0.25}", ["1/3", "2/3", "\\frac{1}{4}"], 1.0),  # the last, in another form (numeric)
    ("\\boxed{1+x}", ["2", "x+1"], 1.0),  # the second, equal only symbolically (math-verify)
    ("\\boxed{9}", ["7", "8"], 0.0),  # none of them
    ("\\boxed{1/3}", ["2/3", "1/2", "0.75"], 0.0),  # none of three
]


@pytest.mark.parametrize("completion,refs,score", MATH)
def test_math_verifier(completion, refs, score):
    r = MathVerifier().score(completion, math_row(*refs))
    assert r.score == score and r.correct is (score == 1.0)


def test_math_verifier_reports_extraction_failure():
    r = MathVerifier().score("no digits", math_row("4"))
    assert r.extracted is None and r.score == 0.0


# ----------------------------------------------------------------- knights & knaves

KK_ROW = Row(
    prompt="...",
    answer=["Zoey is a knight, and Oliver is a knave."],
    task="knights_knaves",
    metadata={"names": ["Zoey", "Oliver"], "knight_knave_terms": {"knight": "knight", "knave": "knave"}},
)
KK = [
    # (completion, expected correct)
    ("Zoey is a knight, and Oliver is a knave", True),  # reference wording
    ("Oliver is a knave and Zoey is a knight.", True),  # other order
    ("<answer>zoey is a Knight; oliver is a Knave</answer>", True),  # case, separators, tags
    ("\\boxed{Zoey: knight, Oliver: knave}", True),  # colon phrasing in a box
    ("Zoey is a knight and Oliver is not a knight", True),  # negated role
    ("If Zoey is a knave ... contradiction. So Zoey is a knight, Oliver is a knave.", True),  # last statement wins
    ("Zoey is a knight, and Oliver is a knight", False),  # wrong role
    ("Zoey is a knight.", False),  # a person missing
    ("They are both knights", False),  # nothing parseable
]


@pytest.mark.parametrize("completion,correct", KK)
def test_knights_knaves(completion, correct):
    r = KnightsKnavesVerifier().score(completion, KK_ROW)
    assert r.correct is correct and r.score == float(correct)


def test_knights_knaves_renamed_roles():
    # The task sometimes says hero/villain instead of knight/knave.
    row = Row(prompt="...", answer=["Amelia is a hero, and Elizabeth is a villain."],
              metadata={"names": ["Amelia", "Elizabeth"], "knight_knave_terms": {"knight": "hero", "knave": "villain"}})
    v = KnightsKnavesVerifier()
    assert v.score("Elizabeth is a villain, Amelia is a hero", row).correct
    assert not v.score("Elizabeth is a hero, Amelia is a hero", row).correct


# ----------------------------------------------------------------- reasoning-gym agreement


def _rg_rows(task, n):
    import reasoning_gym

    ds = reasoning_gym.create_dataset(task, size=n, seed=1)
    return ds, [Row(prompt=e["question"], answer=[str(e["answer"])], task=task, metadata=e["metadata"]) for e in ds]


def _perturb(entry: dict, task: str) -> str:
    answer = entry["answer"]
    if task == "knights_knaves":  # flip the first person's role (roles may be renamed)
        terms = entry["metadata"]["knight_knave_terms"]
        first, rest = answer.split(",", 1)
        a, b = f"{terms['a_knight']}", f"{terms['a_knave']}"
        first = first.replace(a, b) if a in first else first.replace(b, a)
        return first + "," + rest
    return str(int(answer) + 1)


@pytest.mark.parametrize("task", ["chain_sum", "leg_counting", "knights_knaves"])
def test_reasoning_gym_agreement(task):
    ds, rows = _rg_rows(task, 7)
    verifier = get_verifier(task)
    for entry, row in zip(ds, rows):
        # the entry's own answer: reasoning-gym gives 1.0, so must we
        assert ds.score_answer(entry["answer"], entry) == 1.0
        assert verifier.score(f"<answer>{entry['answer']}</answer>", row).correct
        assert verifier.score(f"So the answer is \\boxed{{{entry['answer']}}}", row).correct
        # a perturbed answer: reasoning-gym gives < 1.0 and we give 0
        wrong = _perturb(entry, task)
        assert ds.score_answer(wrong, entry) < 1.0
        assert verifier.score(f"<answer>{wrong}</answer>", row).score == 0.0


def test_reasoning_gym_verifier_partial_credit_is_zero():
    # gsm_symbolic gives 0.01 for a wrong number; we report 0 (binary rewards).
    ds, rows = _rg_rows("gsm_symbolic", 2)
    v = ReasoningGymVerifier("gsm_symbolic")
    wrong = str(int(ds[0]["answer"]) + 1)
    assert ds.score_answer(wrong, ds[0]) == 0.01
    assert v.score(f"\\boxed{{{wrong}}}", rows[0]).score == 0.0
    assert v.score(f"\\boxed{{{ds[0]['answer']}}}", rows[0]).score == 1.0


def test_get_verifier_mapping():
    assert isinstance(get_verifier(None), MathVerifier)  # no task: generic math
    assert isinstance(get_verifier("gsm8k"), MathVerifier)  # unknown non-rg name: generic math
    assert isinstance(get_verifier("chain_sum"), MathVerifier)  # numeric rg task
    assert isinstance(get_verifier("knights_knaves"), KnightsKnavesVerifier)
    v = get_verifier("word_sorting")  # other rg task: its own scorer
    assert isinstance(v, ReasoningGymVerifier) and v.task_name == "word_sorting"
    assert isinstance(get_verifier("chain_sum", reward_fn="rewards_test_helpers:length_reward"), UserReward)


# ----------------------------------------------------------------- format and weighted sum

FORMAT = [
    # (completion, expected format score)
    ("think... \\boxed{4}", 1.0),  # one final box
    ("think... \\boxed{4}.$", 1.0),  # trailing punctuation is fine
    ("\\boxed{3} and \\boxed{4}", 0.0),  # two boxes
    ("<think>..</think><answer>4</answer>", 1.0),  # one answer block
    ("<answer>4</answer><answer>5</answer>", 0.0),  # two answer blocks
    ("\\boxed{4} and then a long rambling tail that keeps going on and on", 0.0),  # does not stop
    ("no answer", 0.0),  # nothing
]


@pytest.mark.parametrize("completion,score", FORMAT)
def test_format_reward(completion, score):
    assert FormatReward().score(completion, math_row("4")).score == score


def test_weighted_sum():
    v = WeightedSum([(MathVerifier(), 1.0), (FormatReward(), 0.1)])
    r = v.score("\\boxed{4}", math_row("4"))
    assert r.score == pytest.approx(1.1) and r.correct  # 1.0*1 + 0.1*1
    r = v.score("\\boxed{5}", math_row("4"))
    assert r.score == pytest.approx(0.1) and not r.correct  # 1.0*0 + 0.1*1


# ----------------------------------------------------------------- user rewards

USER = [
    # (function, expected score, error expected)
    ("raises", 0.0, True),  # exception
    ("returns_nan", 0.0, True),  # NaN
    ("returns_inf", 0.0, True),  # inf
    ("returns_text", 0.0, True),  # not a number
    ("length_reward", 0.3, False),  # (float, info) with 'extracted'
]


@pytest.mark.parametrize("name,score,error", USER)
def test_user_reward(name, score, error):
    r = load_user_reward(f"rewards_test_helpers:{name}").score("abc", math_row("4"))
    assert r.score == pytest.approx(score) and (r.error is not None) is error
    if error:
        assert r.extracted is None and r.correct is False
    else:
        # length_reward returns (len/10, {"extracted": last character}): "abc" -> 0.3, "c"
        assert r.extracted == "c" and r.correct is False  # 0.3 < 1 and no "correct" in info


def test_user_reward_info_correct_and_extracted():
    # info["correct"] overrides score >= 1; info["extracted"] is reported as a string
    v = load_user_reward("rewards_test_helpers:graded")
    r = v.score("42", math_row("42"))
    assert (r.score, r.correct, r.extracted, r.error) == (0.5, True, "42", None)  # correct though 0.5 < 1
    r = v.score("41", math_row("42"))
    assert (r.score, r.correct, r.extracted) == (1.0, False, "41")  # wrong though score 1


def test_user_reward_counts_errors_and_logs_once(caplog):
    v = load_user_reward("rewards_test_helpers:raises")
    with caplog.at_level(logging.WARNING, logger="hybridrl.rewards.verifiers"):
        for _ in range(3):
            v.score("x", math_row("4"))
    assert v.n_errors == 3
    assert sum("Traceback" in rec.getMessage() for rec in caplog.records) == 1


def test_load_user_reward_fails_loudly_on_bad_path():
    with pytest.raises((ValueError, AttributeError, ImportError)):
        load_user_reward("rewards_test_helpers:missing")
    with pytest.raises(ValueError):
        load_user_reward("no_colon")
