"""sequence_logprobs: hand-computed values on a scripted model, and a naive per-sample oracle."""

import math
from types import SimpleNamespace

import pytest
import torch

from hybridrl.models.tiny import build_tiny_model, build_tiny_tokenizer
from hybridrl.rollout.logprobs import build_batch, sequence_logprobs


class SuccessorModel(torch.nn.Module):
    """Scripted LM over V tokens: the logit of (prev + 1) % V is 3, every other logit is 0.

    So log p(next = prev+1) = 3 - log(e^3 + V - 1) and log p(other) = -log(e^3 + V - 1),
    which makes any off-by-one in the position slicing visible.
    """

    def __init__(self, vocab: int = 3):
        super().__init__()
        self.vocab = vocab
        self.config = SimpleNamespace(pad_token_id=0)
        self.scale = torch.nn.Parameter(torch.tensor(3.0))

    def forward(self, input_ids, attention_mask, position_ids, use_cache, logits_to_keep, output_hidden_states):
        onehot = torch.nn.functional.one_hot((input_ids + 1) % self.vocab, self.vocab).float()
        logits = (self.scale * onehot)[:, -logits_to_keep:]
        hidden = (input_ids.float().unsqueeze(-1),) if output_hidden_states else None
        return SimpleNamespace(logits=logits, hidden_states=hidden)


def test_hand_computed_logprobs_and_entropy():
    model = SuccessorModel(vocab=3)
    prompts = [[0], [2, 1]]
    prompt_index = torch.tensor([0, 1])
    # sample 0: prompt [0] -> 1 (successor), 0 (not: successor of 1 is 2), then padding
    # sample 1: prompt [2, 1] -> 2 (successor of 1), 0 (successor of 2), 0 (not)
    completions = torch.tensor([[1, 0, 0], [2, 0, 0]])
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    out = sequence_logprobs(model, prompts, prompt_index, completions, mask, return_entropy=True)
    z = math.log(math.exp(3) + 2)  # log partition: e^3 + 1 + 1
    hit, miss = 3 - z, -z  # -0.1269, -3.1269
    expected = torch.tensor([[hit, miss, 0.0], [hit, hit, miss]])
    torch.testing.assert_close(out["logprobs"], expected, atol=1e-6, rtol=0)
    # Entropy of p = (e^3, 1, 1) / (e^3 + 2) = (0.9094, 0.0453, 0.0453):
    # H = -(0.9094 ln 0.9094 + 2 * 0.0453 ln 0.0453) = 0.0864 + 0.2801 = 0.3665, 0 at padding.
    p = torch.tensor([math.exp(3), 1.0, 1.0]) / (math.exp(3) + 2)
    h = float(-(p * p.log()).sum())
    assert h == pytest.approx(0.3665, abs=1e-4)
    torch.testing.assert_close(out["entropy"], torch.tensor([[h, h, 0.0], [h, h, h]]), atol=1e-6, rtol=0)


def test_temperature_divides_logits():
    model = SuccessorModel(vocab=3)
    out = sequence_logprobs(
        model, [[0]], torch.tensor([0]), torch.tensor([[1, 1]]), torch.ones(1, 2),
        temperature=2.0, return_entropy=True,
    )
    # logits / 2 = (1.5, 0, 0): log p(hit) = 1.5 - log(e^1.5 + 2), log p(miss) = -log(e^1.5 + 2)
    z = math.log(math.exp(1.5) + 2)
    torch.testing.assert_close(out["logprobs"], torch.tensor([[1.5 - z, -z]]), atol=1e-6, rtol=0)
    p = torch.tensor([math.exp(1.5), 1.0, 1.0]) / (math.exp(1.5) + 2)
    h = float(-(p * p.log()).sum())
    torch.testing.assert_close(out["entropy"], torch.tensor([[h, h]]), atol=1e-6, rtol=0)


def test_gradient_of_scripted_model():
    model = SuccessorModel(vocab=3)
    out = sequence_logprobs(model, [[0]], torch.tensor([0]), torch.tensor([[1]]), torch.ones(1, 1))
    out["logprobs"].sum().backward()
    # d/ds [s - log(e^s + 2)] = 1 - e^s / (e^s + 2) = 2 / (e^3 + 2) = 0.0908
    assert model.scale.grad.item() == pytest.approx(2 / (math.exp(3) + 2), abs=1e-6)


def test_build_batch_left_pads_and_positions():
    ids, attn, pos, lp = build_batch(
        [[5, 6, 7], [8]], torch.tensor([1, 0]), torch.tensor([[1, 2], [3, 0]]),
        torch.tensor([[1.0, 1.0], [1.0, 0.0]]), pad_token_id=0,
    )
    assert lp == 3
    assert ids.tolist() == [[0, 0, 8, 1, 2], [5, 6, 7, 3, 0]]
    assert attn.tolist() == [[0, 0, 1, 1, 1], [1, 1, 1, 1, 0]]
    assert pos[0, 2:].tolist() == [0, 1, 2] and pos[1, :4].tolist() == [0, 1, 2, 3]


# -- real (tiny) transformer against a naive loop ------------------------------------------------


@pytest.fixture(scope="module")
def tiny():
    tok = build_tiny_tokenizer()
    return {arch: build_tiny_model(tok, seed=1, arch=arch) for arch in ("llama", "qwen2")}, tok


def _naive(model, prompt, completion, temperature):
    """One sample alone, no padding: full forward, full log_softmax, then slice."""
    ids = torch.tensor([prompt + completion])
    logits = model(ids).logits[0, len(prompt) - 1 : -1] / temperature  # (T, V)
    logp = logits.log_softmax(-1)
    lp = logp.gather(-1, torch.tensor(completion).unsqueeze(-1)).squeeze(-1)
    entropy = -(logp.exp() * logp).sum(-1)
    return lp, entropy


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_matches_naive_loop(tiny, arch, temperature):
    models, tok = tiny
    model = models[arch]
    prompts = [tok(t)["input_ids"] for t in ["What is 2+3?", "Hi", "Compute \\frac{1}{2} of 8"]]
    gen = torch.Generator().manual_seed(0)
    prompt_index = torch.tensor([0, 0, 1, 2, 1])
    lengths = [5, 2, 7, 1, 4]
    completions = torch.zeros(5, 8, dtype=torch.long)  # one all-padding column at the end
    mask = torch.zeros(5, 8)
    for i, n in enumerate(lengths):
        completions[i, :n] = torch.randint(3, len(tok), (n,), generator=gen)
        mask[i, :n] = 1
    out = sequence_logprobs(
        model, prompts, prompt_index, completions, mask, temperature=temperature,
        return_entropy=True, return_hidden=True,
    )
    assert out["logprobs"].shape == out["entropy"].shape == (5, 8)
    assert out["hidden"].shape == (5, 8, model.config.hidden_size)
    for i, n in enumerate(lengths):
        lp, ent = _naive(model, prompts[prompt_index[i]], completions[i, :n].tolist(), temperature)
        torch.testing.assert_close(out["logprobs"][i, :n], lp, atol=1e-5, rtol=0)
        torch.testing.assert_close(out["entropy"][i, :n], ent, atol=1e-5, rtol=0)
        assert out["logprobs"][i, n:].abs().sum() == 0 and out["entropy"][i, n:].abs().sum() == 0
        # hidden at the positions that predict each completion token
        prompt = prompts[prompt_index[i]]
        h = model(torch.tensor([prompt + completions[i, :n].tolist()]), output_hidden_states=True).hidden_states[-1]
        torch.testing.assert_close(out["hidden"][i, :n], h[0, len(prompt) - 1 : -1], atol=1e-5, rtol=0)
    # the test is only meaningful if log-probs vary across positions
    assert out["logprobs"][mask > 0].std() > 0.5


def test_gradient_flows_only_through_real_tokens(tiny):
    models, tok = tiny
    model = models["llama"]
    model.zero_grad()
    prompts = [tok("ab")["input_ids"], tok("abcdef")["input_ids"]]
    completions = torch.tensor([[10, 11, 12], [13, 0, 0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    out = sequence_logprobs(model, prompts, torch.tensor([0, 1]), completions, mask)
    assert out["logprobs"].requires_grad
    out["logprobs"].sum().backward()
    grad = model.lm_head.weight.grad
    assert grad is not None and grad.abs().sum() > 0
    # Changing a padded completion token must not change anything.
    completions2 = completions.clone()
    completions2[1, 1:] = 50
    out2 = sequence_logprobs(model, prompts, torch.tensor([0, 1]), completions2, mask)
    torch.testing.assert_close(out2["logprobs"], out["logprobs"].detach(), atol=0, rtol=0)
    model.zero_grad()
