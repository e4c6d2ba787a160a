import math
import time

import pytest

from hybridrl.rewards.extract import extract_answer

CASES = [
    # (completion, expected extraction)
    ("so the answer is \\boxed{42}.", "42"),  # plain box
    ("\\boxed{1} wait, no: \\boxed{2}", "2"),  # several boxes: the last counts
    ("\\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),  # nested braces
    ("\\boxed{\\sqrt{\\frac{a}{b}} + {c}}", "\\sqrt{\\frac{a}{b}} + {c}"),  # deeper nesting
    ("$\\boxed 5$", "5"),  # \boxed without braces
    ("\\fbox{7}", "7"),  # \fbox
    ("<answer>12</answer> but \\boxed{13}", "12"),  # answer tags win over a later box
    ("<answer>1</answer> <answer> 2 </answer>", "2"),  # last tag block, stripped
    ("<answer>\\boxed{9}</answer>", "9"),  # a box inside the tags is unwrapped
    ("<ANSWER>ok</ANSWER>", "ok"),  # tags are case-insensitive
    ("<answer>3 (truncated", "3"),  # unclosed tag ignored -> last number
    ("\\boxed{4} then \\boxed{\\frac{1}{2}", "4"),  # malformed last box -> previous box
    ("\\boxed{}", None),  # empty box, nothing else
    ("3 apples and 5 pears", "5"),  # last number
    ("total: 1,000 dollars", "1000"),  # digit-group commas removed
    ("it is −3", "-3"),  # unicode minus
    ("x = -2.5.", "-2.5"),  # negative decimal, sentence full stop
    ("4 - 1 - 7 = -4", "-4"),  # binary minus is not a sign, but '= -4' is
    ("5-3", "3"),  # binary minus
    ("no answer here", None),  # missing answer
    ("", None),  # empty completion
]


@pytest.mark.parametrize("text,expected", CASES)
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


def test_non_string_input_gives_none():
    assert extract_answer(None) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    [
        "\\boxed{" * 30_000,  # 100+ KB of unclosed boxes: must not be quadratic
        "1" * 100_000,  # a 100 KB number
        "a -" * 35_000,  # many near-numbers
        "<answer>" * 12_000 + "</answer>",  # many open tags
    ],
)
def test_extraction_is_bounded_on_100kb(text):
    # within 0.5 s, or (on a loaded machine) growing linearly: 10x the text in at most 30x the time
    # of its first tenth (a quadratic scan takes 100x). The best of up to 3 timings each: load spikes
    # are transient, a blow-up is not.
    def best(s: str, budget: float) -> float:
        out = math.inf
        for _ in range(3):
            t0 = time.perf_counter()
            extract_answer(s)
            out = min(out, time.perf_counter() - t0)
            if out < budget:
                break
        return out

    full = best(text, 0.5)
    if full >= 0.5:
        tenth = best(text[: len(text) // 10], 0.0)
        assert full < 30 * max(tenth, 1e-3), (full, tenth)
