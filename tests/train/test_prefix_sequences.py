"""#26: a demonstration term cut to a prefix (UFT's β·NLL(prefix | x)): the mask covers the first
L tokens only, and the term's loss is their token mean, by hand."""

import math

import pytest
import torch

from hybridrl.core.aggregation import agg_loss
from hybridrl.core.presets import term_loss
from hybridrl.training.update.terms import demo_sequences


def test_prefix_cut_masks_the_rest_of_the_demonstration():
    prompts = [[1, 2], [3]]
    demos = [[5, 6, 7, 8], [9, 10, 11]]
    whole = demo_sequences(prompts, demos, torch.tensor([0, 1]))
    cut = demo_sequences(prompts, demos, torch.tensor([0, 1]), torch.tensor([2, 3]))
    assert whole.mask.tolist() == [[1, 1, 1, 1], [1, 1, 1, 0]]
    # row 0 keeps [5, 6] (L = 2), row 1 all three (L = 3); the width is that of the longest cut
    assert cut.completion_ids.tolist() == [[5, 6, 0], [9, 10, 11]]
    assert cut.mask.tolist() == [[1, 1, 0], [1, 1, 1]]
    # a cut longer than the demonstration keeps the demonstration
    assert demo_sequences(prompts, demos, torch.tensor([1]), torch.tensor([9])).mask.tolist() == [[1, 1, 1]]


def test_prefix_loss_is_the_token_mean_nll_of_the_prefix_tokens():
    # log π of the cut sequences' tokens: row 0 [ln .5, ln .25, (masked)], row 1 [ln .5, ln .5, ln .125]
    cut = demo_sequences([[1, 2], [3]], [[5, 6, 7, 8], [9, 10, 11]], torch.tensor([0, 1]), torch.tensor([2, 3]))
    logp = torch.tensor([[math.log(0.5), math.log(0.25), float("nan")],
                         [math.log(0.5), math.log(0.5), math.log(0.125)]], dtype=torch.float64)
    ptl, _ = term_loss("sft", logp, None, None, cut.mask.double())
    loss = agg_loss(ptl, cut.mask.double(), "token-mean")
    # NLL: ln2 + 2 ln2 + ln2 + ln2 + 3 ln2 = 8 ln2 = 5.545177 over 5 prefix tokens -> 1.109035
    assert float(loss) == pytest.approx(8 * math.log(2) / 5, rel=1e-12)
