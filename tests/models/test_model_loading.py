"""load_model_and_tokenizer / load_reference_copy."""

import pytest
import torch

from hybridrl.models.loading import load_model_and_tokenizer, load_reference_copy
from hybridrl.models.tiny import build_tiny_model


def test_tiny_by_name():
    model, tok = load_model_and_tokenizer("tiny", seed=5)
    assert tok.padding_side == "left"
    assert tok.pad_token_id == tok.eos_token_id
    assert model.config.pad_token_id == tok.pad_token_id
    assert model.training
    assert torch.equal(model.lm_head.weight, build_tiny_model(tok, seed=5).lm_head.weight)
    bf16, _ = load_model_and_tokenizer("tiny", dtype=torch.bfloat16)
    assert bf16.lm_head.weight.dtype == torch.bfloat16


def test_local_folder_round_trip(tmp_path):
    model, tok = load_model_and_tokenizer("tiny", seed=1)
    tok.padding_side = "right"  # saved as right: loading must still give left
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    loaded, loaded_tok = load_model_and_tokenizer(str(tmp_path))
    assert loaded_tok.padding_side == "left"
    assert torch.equal(loaded.lm_head.weight, model.lm_head.weight)
    text = "x = \\frac{1}{2}"
    assert loaded_tok.decode(loaded_tok(text)["input_ids"]) == text


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_model_and_tokenizer(str(tmp_path / "no-such-model"))


def test_hub_id_offline_fails_fast(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(OSError, match="HF_HUB_OFFLINE"):
        load_model_and_tokenizer("some-org/some-model-not-cached")


def test_reference_copy_is_frozen_and_independent():
    model, tok = load_model_and_tokenizer("tiny")
    ref = load_reference_copy(model)
    assert not ref.training and model.training
    assert all(not p.requires_grad for p in ref.parameters())
    assert all(p.requires_grad for p in model.parameters())
    ids = torch.tensor([tok("abc")["input_ids"]])
    before = ref(ids).logits
    with torch.no_grad():
        model.lm_head.weight.add_(1.0)  # training the policy must not move the reference
    assert torch.equal(ref(ids).logits, before)
