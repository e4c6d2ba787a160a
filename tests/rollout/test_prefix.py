"""Demonstration-prefix rollouts (#26, ``hybridrl.rollout.prefix``): the sections, UFT's
schedules at their corners, seeded draws, and prefix sampling with every installed engine."""

import math

import pytest
import torch

from hybridrl.rollout.prefix import (PrefixPlan, prefix_lengths, prefix_metrics, section_bounds, stage_sections,
                                     uft_hint_prob, with_prefixes)
from hybridrl.rollout.types import SamplingParams, concat_rollouts
from tests.rollout.conftest import tiny_pair


def test_section_bounds_by_hand():
    # 12 tokens, 5 sections: round(12·k/5) = round(2.4, 4.8, 7.2, 9.6) = 2, 5, 7, 10; last = 12
    assert section_bounds(12, 5) == [0, 2, 5, 7, 10, 12]
    # fewer tokens than sections: one section per token (official num = min(5, len(hint)))
    assert section_bounds(3, 5) == [0, 1, 2, 3]
    # 10 tokens: round(2.0, 4.0, 6.0, 8.0); 5 tokens, 2 sections: round(2.5) = 2 (Python rounds half to even)
    assert section_bounds(10, 5) == [0, 2, 4, 6, 8, 10] and section_bounds(5, 2) == [0, 2, 5]
    assert section_bounds(0, 5) == [0]


@pytest.mark.parametrize("step,expected", [
    (0, 0.95),                                  # ½(1 + cos 0) = 1: p_high
    (150, 0.5),                                 # ½(1 + cos π/2) = ½: 0.05 + 0.9 · ½
    (75, 0.05 + 0.45 * (1 + math.cos(math.pi / 4))),  # 0.05 + 0.45 · 1.707107 = 0.818198
    (300, 0.05),                                # t = T_hint: cos π = −1: p_low
    (301, 0.0),                                 # after T_hint: no hint
])
def test_uft_hint_prob_corners(step, expected):
    assert uft_hint_prob(step, 300, 0.05, 0.95) == pytest.approx(expected, abs=1e-12)


def test_stage_staircase_by_hand():
    # T_hint 300, 5 sections: one stair per 300 // 6 = 50 steps: 5 − t // 50, clipped at 0
    assert [stage_sections(t, 300, 5) for t in (0, 49, 50, 149, 250, 299, 300, 301)] == [5, 5, 4, 3, 0, 0, 0, 0]


def test_plans_draw_whole_sections_reproducibly():
    demo = [12, 3, 0]  # tokens per demonstration (the third prompt has none)
    full = prefix_lengths(PrefixPlan("binomial", 5, prob=1.0, seed=7), demo, [0, 1, 2])
    none = prefix_lengths(PrefixPlan("binomial", 5, prob=0.0, seed=7), demo, [0, 1, 2])
    assert full == [12, 3, 0] and none == [0, 0, 0]  # p = 1: every section; p = 0: none
    fixed = prefix_lengths(PrefixPlan("fixed", 5, count=2, seed=0), demo, [0, 1, 2])
    assert fixed == [5, 2, 0]  # 2 sections: bounds[2] of [0, 2, 5, ...] and of [0, 1, 2, 3]
    a = prefix_lengths(PrefixPlan("binomial", 5, prob=0.5, seed=3), [12] * 50, list(range(50)))
    b = prefix_lengths(PrefixPlan("binomial", 5, prob=0.5, seed=3), [12] * 50, list(range(50)))
    assert a == b and set(a) <= {0, 2, 5, 7, 10, 12} and len(set(a)) > 2  # seeded, whole sections, varied
    # Binomial(5, ½) sections: mean 2.5 sections; over 50 prompts within 4 standard errors (0.22 each)
    sections = [section_bounds(12, 5).index(x) for x in a]
    assert abs(sum(sections) / 50 - 2.5) < 4 * math.sqrt(5 * 0.25 / 50)
    with pytest.raises(ValueError, match="prefix kind"):
        PrefixPlan("linear")


def test_prefix_metrics_by_hand():
    # prefixes 6 of 12 and 0 of 3 tokens; the third prompt has no demonstration (not in the fraction)
    m = prefix_metrics([6, 0, 0], [12, 3, 0])
    assert m["prefix_fraction"] == pytest.approx((0.5 + 0.0) / 2)
    assert m["prefix/prompts"] == pytest.approx(1 / 3) and m["prefix/tokens"] == pytest.approx(2.0)


def test_prefix_rollouts_continue_the_prefix_with_every_engine(make_generator):
    model, tok = tiny_pair()
    gen = make_generator(model, tok)
    prompts = [tok(t)["input_ids"] for t in ["What is 2+3?", "Hi"]]
    demo = tok(" 2 plus 3 is 5. The answer is 5")["input_ids"]
    prefixes = [demo[:4], []]  # the first prompt gets 4 demonstration tokens, the second none
    batch = gen.generate([p + x for p, x in zip(prompts, prefixes)], SamplingParams(n=2, max_new_tokens=5, seed=0))
    out = with_prefixes(batch, prefixes, tok)
    assert out.prefix_lengths.tolist() == [4, 0]
    assert out.prompt_ids == [prompts[0] + demo[:4], prompts[1]]  # the pg term conditions on prompt + prefix
    for i in range(2):  # texts of prefixed samples: the prefix, then what the model wrote
        ids = out.completion_ids[i][out.completion_mask[i].bool()].tolist()
        assert out.texts[i] == tok.decode(demo[:4] + ids, skip_special_tokens=True)
        assert out.texts[i].startswith(tok.decode(demo[:4], skip_special_tokens=True))
    assert out.texts[2:] == batch.texts[2:]  # no prefix, texts unchanged
    assert torch.equal(out.completion_mask, batch.completion_mask)  # only sampled tokens are completion tokens
    # concatenation (sampling_seed=prompt) keeps the per-prompt lengths
    both = concat_rollouts([out, with_prefixes(batch, [[], []], tok)])
    assert both.prefix_lengths.tolist() == [4, 0, 0, 0]
