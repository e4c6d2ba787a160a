"""Hand-checked demonstrations: the exact text for small fixed entries."""

import pytest

from hybridrl.data import demos


def test_chain_sum_text():
    # 12 + 7 = 19; 19 - 3 = 16
    entry = {"answer": "16", "metadata": {"expression": "12 + 7 - 3"}}
    assert demos.chain_sum_demo(entry) == "12 + 7 = 19. 19 - 3 = 16. The answer is \\boxed{16}."


def test_basic_arithmetic_precedence_brackets_and_negation():
    # -(3 + 4) * 2 - 10 / -5: bracket 7, negate -7, times 2 -14, 10 / -5 = -2, -14 - (-2) = -12
    entry = {"answer": "-12", "metadata": {"expression": "-( 3 + 4 ) * 2 - 10 / -5"}}
    assert demos.basic_arithmetic_demo(entry) == (
        "Brackets first, then * and /, then + and -, each from left to right. "
        "3 + 4 = 7. -(7) = -7. -7 * 2 = -14. 10 / (-5) = -2. -14 - (-2) = -12. The answer is \\boxed{-12}."
    )


def test_basic_arithmetic_multiplication_before_addition():
    # 2 + 3 * 4 = 2 + 12 = 14 (not (2 + 3) * 4 = 20)
    steps, value = demos.arithmetic_steps("2 + 3 * 4")
    assert steps == ["3 * 4 = 12", "2 + 12 = 14"] and value == 14
    # left to right within a level: 8 / 2 * 4 = 4 * 4 = 16; 9 - 3 - 2 = 4
    assert demos.arithmetic_steps("8 / 2 * 4") == (["8 / 2 = 4", "4 * 4 = 16"], 16)
    assert demos.arithmetic_steps("9 - 3 - 2")[1] == 4


def test_inexact_division_is_refused():
    with pytest.raises(demos.InexactDivision):
        demos.arithmetic_steps("7 / 2")
    with pytest.raises(demos.InexactDivision):
        demos.arithmetic_steps("7 / ( 2 - 2 )")


def test_wrong_reference_answer_raises():
    with pytest.raises(ValueError, match="reasoning-gym says 17"):
        demos.chain_sum_demo({"answer": "17", "metadata": {"expression": "12 + 7 - 3"}})


def test_leg_counting_text():
    # 2 spiders * 8 = 16, 1 snake * 0 = 0, total 16
    entry = {"answer": "16", "metadata": {"animals": {"spider": 2, "snake": 1}}}
    assert demos.leg_counting_demo(entry) == (
        "A spider has 8 legs, so 2 spiders have 2 * 8 = 16 legs.\n"
        "A snake has 0 legs, so 1 snake has 1 * 0 = 0 legs.\n"
        "Total: 16 + 0 = 16.\n"
        "The answer is \\boxed{16}."
    )


def test_products_place_value_split():
    # 23 * 45 = 23 * 40 + 23 * 5 = 920 + 115 = 1035
    entry = {"answer": "1035", "metadata": {"expression": "23 * 45"}}
    assert demos.products_demo(entry) == (
        "23 * 45 = 23 * 40 + 23 * 5 = 920 + 115 = 1035. The answer is \\boxed{1035}."
    )


def test_gcd_euclid_text():
    # 18 = 1*12 + 6; 12 = 2*6 + 0 -> 6
    entry = {"answer": "6", "metadata": {"numbers": [12, 18]}}
    assert demos.gcd_demo(entry) == (
        "Euclid on 12 and 18: 18 = 1 * 12 + 6; 12 = 2 * 6 + 0. So GCD(12, 18) = 6.\nThe answer is \\boxed{6}."
    )


def test_lcm_factorisation_text():
    # 98 = 2 * 7^2, 58 = 2 * 29 -> 2 * 49 * 29 = 2842
    entry = {"answer": "2842", "metadata": {"numbers": [98, 58]}}
    assert demos.lcm_demo(entry) == (
        "98 = 2 * 7^2.\n58 = 2 * 29.\nTake each prime at its highest power: 2 * 7^2 * 29 = 2842.\n"
        "The answer is \\boxed{2842}."
    )


def test_gsm_symbolic_trailer_becomes_box():
    # reasoning-gym sometimes writes "#### 15.0" for the answer "15"
    entry = {"answer": "15", "metadata": {"answer_cot": "5 + 10 = 15 apples.\n#### 15.0"}}
    assert demos.gsm_symbolic_demo(entry) == "5 + 10 = 15 apples.\nThe answer is \\boxed{15}."


KK_TERMS = {"knight": "hero", "knave": "villain", "a_knight": "a hero", "a_knave": "a villain",
            "Knight": "Hero", "Knave": "Villain"}


def test_knights_knaves_text():
    # Amelia: "Elizabeth is a villain"; Elizabeth: "Amelia is a hero and Elizabeth is a hero".
    # Amelia hero, Elizabeth villain: Amelia's claim is true (consistent); Elizabeth's claim is
    # false because Elizabeth is a villain (consistent with her lying).
    entry = {
        "answer": "Amelia is a hero, and Elizabeth is a villain.",
        "metadata": {
            "names": ["Amelia", "Elizabeth"],
            "solution": [True, False],
            "statements": [["lying", 1], ["and", ["telling-truth", 0], ["telling-truth", 1]]],
            "knight_knave_terms": KK_TERMS,
        },
    }
    assert demos.knights_knaves_demo(entry) == (
        "A hero always tells the truth and a villain always lies, so a statement is true exactly when its "
        "speaker is a hero. Check each statement with the assignment Amelia is a hero, Elizabeth is a villain.\n"
        'Amelia says "Elizabeth is a villain". Since Elizabeth is a villain, this is true, so Amelia is a hero.\n'
        'Elizabeth says "Amelia is a hero and Elizabeth is a hero". Since Amelia is a hero and Elizabeth is '
        "a villain, this is false, so Elizabeth is a villain.\n"
        "Every statement is consistent. The answer is \\boxed{Amelia is a hero, and Elizabeth is a villain}."
    )


def test_knights_knaves_rejects_inconsistent_solution():
    entry = {"answer": "x", "metadata": {"names": ["A", "B"], "solution": [True, True],
                                         "statements": [["lying", 1], ["telling-truth", 0]],
                                         "knight_knave_terms": KK_TERMS}}
    with pytest.raises(ValueError, match="does not satisfy"):
        demos.knights_knaves_demo(entry)


@pytest.mark.parametrize(
    "stmt, text",
    [
        (["not", ["lying", 0]], "A is a hero"),  # "not a villain" is worded as "a hero"
        (["not", ["or", ["lying", 0], ["telling-truth", 1]]],
         "it is not the case that (A is a villain or B is a hero)"),
        (["->", ["telling-truth", 0], ["and", ["lying", 1], ["lying", 0]]],
         "if A is a hero then (B is a villain and A is a villain)"),
        (["<=>", ["lying", 1], ["telling-truth", 0]], "B is a villain if and only if A is a hero"),
    ],
)
def test_statement_wording(stmt, text):
    assert demos.kk_statement_text(stmt, ["A", "B"], KK_TERMS) == text
