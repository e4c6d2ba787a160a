"""Hostile model outputs for the verifier fuzz tests: a hand-built corpus of generators and a
hypothesis strategy over LaTeX-ish tokens. Deterministic for a given seed."""

from __future__ import annotations

import random

from hypothesis import strategies as st

KB = 1024

TOKENS = [
    "\\boxed{", "\\fbox{", "\\boxed ", "{", "}", "}}", "{{", "^", "^{", "_", "\\frac{", "\\dfrac", "\\sqrt{", "\\sqrt[",
    "\\left(", "\\right)", "(", ")", "[", "]", "\\\\", "\\", "$", "$$", "<answer>", "</answer>", "<think>", "</think>",
    "10", "9", "0", "-", "−", "+", "*", "**", "/", "!", "=", ",", ".", " ", "\n", "e", "x", "i", "\\pi", "\\infty",
    "\\cdot", "\\times", "\\div", "\\pm", "\\text{", "\\mathrm{", "\\begin{pmatrix}", "\\end{pmatrix}", "&", "%",
    "\\int_0^\\infty", "\\sum_{n=1}^{", "\\prod", "\\lim_{x\\to 0}", "\\log", "\\ln", "\\sin", "\\def\\x{\\x}\\x",
    "\\newcommand{\\a}{\\a\\a}\\a", "is a knight", "is a knave", "Zoey", "Oliver", " and ", "not ", ":", "1e308",
    "nan", "inf", "1/0", "\\frac{1}{0}", "０", "５", "٥", "𝟓", "ⅰ", "\u200b", "\u202e", "\u0000", "\ufeff", "\ud800",
    "а", "Ｏ", "＼boxed｛", "｝", "__import__('os')", "lambda: 0", "'", '"', "`",
]

hypothesis_strings = st.lists(
    st.one_of(st.sampled_from(TOKENS), st.text(max_size=12), st.integers().map(str),
              st.floats(allow_nan=True, allow_infinity=True).map(repr)),
    max_size=80,
).map("".join)


def _tower(rng: random.Random, depth: int) -> str:
    base = str(rng.choice([2, 9, 10, 99, 1000]))
    out = base
    for _ in range(depth):
        out = f"{rng.choice([2, 9, 10, 99])}^{{{out}}}"
    return out


def huge_exponent(rng):
    t = _tower(rng, rng.randint(2, 6))
    return rng.choice([f"\\boxed{{{t}}}", f"The answer is $ {t} $", f"<answer>{t}</answer>", f"\\boxed{{{t}!}}",
                       f"\\boxed{{({t})!}}", f"\\boxed{{1e{rng.randint(300, 10**9)}}}", f"\\boxed{{{t} - {t}}}",
                       f"\\boxed{{\\frac{{{t}}}{{{_tower(rng, 3)}}}}}", f"\\boxed{{9**9**9**9}}"])


def deep_nesting(rng):
    n = rng.choice([50, 200, 1000, 5000])
    kind = rng.randrange(6)
    if kind == 0:
        return "\\boxed{" + "{" * n + "1" + "}" * n + "}"
    if kind == 1:
        return "\\boxed{" + "\\frac{1}{" * min(n, 300) + "2" + "}" * min(n, 300) + "}"
    if kind == 2:
        return "\\boxed{" + "(" * n + "1" + ")" * n + "}"
    if kind == 3:
        return "\\boxed{" + "\\sqrt{" * min(n, 300) + "4" + "}" * min(n, 300) + "}"
    if kind == 4:
        return "<answer>" * n + "5" + "</answer>" * n
    return "\\boxed{" + "x^{" * min(n, 500) + "2" + "}" * min(n, 500) + "}"


def unclosed(rng):
    body = rng.choice(["\\frac{1}{2", "1", "{{{", "\\sqrt{", "\\text{5", "10^{10"])
    return rng.choice([f"\\boxed{{{body}", f"so \\boxed{{3}} then \\boxed{{{body}", "}" * rng.randint(1, 500) + "\\boxed{",
                       "{" * rng.randint(1, 5000), f"<answer>{body}", f"\\boxed{{{body}" * rng.randint(2, 200),
                       "\\boxed", "\\boxed{}", "\\boxed{ }", "<answer></answer>"])


def huge_output(rng):
    size = rng.choice([10, 50, 100]) * KB
    unit = rng.choice(["7 ", "\\boxed{1}", "a", "1,000,", "<answer>", "\\frac{", "{", "Zoey is a knight. ", "é", "𝟓",
                       "\\boxed{\\boxed{", "9" * 64, "−", "\n"])
    return (unit * (size // len(unit.encode()) + 1))[: size]


def many_boxes(rng):
    n = rng.choice([10, 1000, 10_000])
    return " ".join(f"\\boxed{{{rng.randint(-10**6, 10**6)}}}" for _ in range(n))


def lookalikes(rng):
    digit = rng.choice(["５", "٥", "𝟓", "⁵", "₅", "Ⅴ", "۵", "5\u0338", "5\u200b", "\u202e5", "5\ufe0f", "ｓ"])
    wrap = rng.choice(["\\boxed{%s}", "＼boxed｛%s｝", "<answer>%s</answer>", "The answer is %s", "\\boxed{−%s}",
                       "\\boxed{%s%s%s}", "\\fbox{%s}"])
    return wrap.replace("%s", digit)


def latex_macros(rng):
    return rng.choice([
        "\\def\\x{\\x}\\boxed{\\x}", "\\newcommand{\\a}{\\a\\a}\\boxed{\\a}", "\\boxed{\\sum_{n=1}^{10^{10}} n}",
        "\\boxed{\\int_0^\\infty e^{-x^{10^{10}}} dx}", "\\boxed{\\lim_{x \\to 0} \\frac{\\sin x}{x}}",
        "\\boxed{\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}^{10^{10}}}", "\\boxed{\\prod_{k=1}^{10^9} k}",
        "\\boxed{\\mathbb{R}}", "\\boxed{\\text{\\text{\\text{5}}}}", "\\boxed{\\left( \\right.}", "\\boxed{x = 5, y}",
        "\\boxed{\\frac{d^{100}}{dx^{100}} x^{1000}}", "\\boxed{\\binom{10^{9}}{10^{8}}}", "\\boxed{\\gcd(10^{100}!, 7)}",
        "\\boxed{\\infty - \\infty}", "\\boxed{0^0}", "\\boxed{\\frac{1}{0}}", "\\boxed{\\sqrt{-1}}", "\\boxed{\\}",
        "\\boxed{5 \\pmod{0}}", "\\boxed{\\sin(10^{10^{10}})}", "\\boxed{" + "+".join(["x"] * 2000) + "}",
        "\\boxed{" + "*".join(["(x+1)"] * 60) + "}", "\\boxed{\\{1, 2\\} \\cup \\{3\\}}", "\\boxed{[0, \\infty)}",
    ])


def code_payloads(rng):
    # would create a file if anything evaluated them (tests check that nothing does)
    p = rng.choice(["__import__('os').system('touch {c}')", "open('{c}','w').write('x')",
                    "exec(\"open('{c}','w')\")", "eval(\"open('{c}','w')\")",
                    "[open('{c}','w') for _ in [1]]", "(lambda: open('{c}','w'))()"])
    return rng.choice(["\\boxed{%s}", "<answer>%s</answer>", "%s", "The answer is %s"]).replace("%s", p)


def knights(rng):
    names = rng.choice([["Zoey", "Oliver"], ["A.*", "(B)"], ["\\d+", "x" * 1000]])
    parts = [f"{rng.choice(names)} is {rng.choice(['a knight', 'a knave', 'not a knight', 'a hero'])}"
             for _ in range(rng.choice([2, 100, 3000]))]
    return rng.choice(["\\boxed{%s}", "<answer>%s</answer>", "%s"]).replace("%s", ", and ".join(parts))


def numbers(rng):
    return rng.choice([
        "\\boxed{" + "9" * rng.choice([100, 5000, 100_000]) + "}", "\\boxed{0." + "0" * 10_000 + "1}",
        "\\boxed{" + ",".join(["999"] * 5000) + "}", "\\boxed{-0}", "\\boxed{NaN}", "\\boxed{inf}", "\\boxed{1e-400}",
        "The answer is " + "1" * 50_000, "\\boxed{%d/%d}" % (rng.randint(1, 10**18), rng.randint(0, 3)),
        "\\boxed{\\frac{" + "7" * 3000 + "}{" + "3" * 3000 + "}}", "\\boxed{0x1F}", "\\boxed{1_000}",
    ])


GENERATORS = [huge_exponent, deep_nesting, unclosed, huge_output, many_boxes, lookalikes, latex_macros,
              code_payloads, knights, numbers]


def corpus(n: int, seed: int, canary: str = "/nonexistent/canary") -> list[str]:
    """``n`` hostile strings, the generators taken in turn."""
    rng = random.Random(seed)
    return [GENERATORS[i % len(GENERATORS)](rng).replace("{c}", canary) for i in range(n)]
