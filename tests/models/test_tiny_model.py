"""Tiny tokenizer and model built in code (hybridrl.models.tiny)."""

import time

import pytest
import torch
from transformers import LlamaForCausalLM, Qwen2ForCausalLM

from hybridrl.models.tiny import build_tiny_model, build_tiny_tokenizer


@pytest.fixture(scope="module")
def tok():
    return build_tiny_tokenizer()


def test_round_trip_ascii_and_latex(tok):
    text = "Solve: 12 + 30 = ?\n\tThe answer is $\\boxed{42}$ (x^2_1 ≤ π×2 ÷ 3)."
    ids = tok(text)["input_ids"]
    assert len(ids) == len(text)  # one token per character, no BOS added
    assert tok.decode(ids) == text


def test_unknown_chars_become_unk(tok):
    ids = tok("aé€b")["input_ids"]
    # 'a', unk, unk, 'b'
    assert ids[1] == ids[2] == tok.unk_token_id
    assert ids[0] != tok.unk_token_id and ids[3] != tok.unk_token_id
    assert tok.decode(ids, skip_special_tokens=True) == "ab"


def test_special_tokens(tok):
    assert tok.eos_token == tok.pad_token == "<|im_end|>"
    assert tok.eos_token_id == tok.pad_token_id
    # Special tokens are matched whole, not spelled out character by character.
    assert tok("<|im_start|>hi<|im_end|>")["input_ids"] == [
        tok.convert_tokens_to_ids("<|im_start|>"),
        tok.convert_tokens_to_ids("h"),
        tok.convert_tokens_to_ids("i"),
        tok.eos_token_id,
    ]
    assert tok.padding_side == "left"


def test_chat_template(tok):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+3?"}]
    text = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert text == (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\n2+3?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    ids = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)[
        "input_ids"
    ]
    assert tok.decode(ids) == text
    assert tok.decode(ids, skip_special_tokens=True) == "system\nBe brief.\nuser\n2+3?\nassistant\n"


def test_batch_padding_is_left(tok):
    enc = tok(["ab", "abcd"], padding=True, return_tensors="pt")
    assert enc["input_ids"][0, :2].tolist() == [tok.pad_token_id] * 2
    assert enc["attention_mask"].tolist() == [[0, 0, 1, 1], [1, 1, 1, 1]]


def test_build_is_fast_seeded_and_float32(tok):
    start = time.perf_counter()
    model = build_tiny_model(tok, seed=3)
    assert time.perf_counter() - start < 1.0
    assert isinstance(model, LlamaForCausalLM)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert model.config.vocab_size == len(tok)
    same = build_tiny_model(tok, seed=3)
    other = build_tiny_model(tok, seed=4)
    w = model.lm_head.weight
    assert torch.equal(w, same.lm_head.weight)
    assert not torch.equal(w, other.lm_head.weight)


def test_build_does_not_touch_global_rng(tok):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_tiny_model(tok, seed=0)
    assert torch.equal(torch.rand(3), expected)


def test_qwen2_arch_and_peaked_distribution(tok):
    model = build_tiny_model(tok, arch="qwen2", hidden=32, layers=1)
    assert isinstance(model, Qwen2ForCausalLM)
    ids = torch.tensor([tok("What is 2+3?")["input_ids"]])
    logp = model(ids).logits.log_softmax(-1)
    entropy = -(logp.exp() * logp).sum(-1).mean()
    # init_std=0.2 makes next-token distributions clearly non-uniform (uniform = log 114 = 4.74).
    assert entropy < 4.5
    with pytest.raises(ValueError, match="unknown tiny arch"):
        build_tiny_model(tok, arch="gpt2")
