"""A random tiny model and a character-level tokenizer, built in code (no files, no downloads).

Used by unit tests and smoke runs (docs/design.md §2): ~0.1 s to build, ~60 ms per train step.
The tokenizer speaks ChatML like SmolLM2 (``<|im_start|>``/``<|im_end|>``, eos = pad = ``<|im_end|>``),
so prompt templates and EOS handling are exercised exactly as with the real model.
"""

from __future__ import annotations

import string

import torch
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import (
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2ForCausalLM,
)

UNK, IM_START, IM_END = "<unk>", "<|im_start|>", "<|im_end|>"
SPECIAL_TOKENS = [UNK, IM_START, IM_END]
# Printable ASCII covers \ { } ^ _ $ for LaTeX; add the few unicode symbols math text uses.
EXTRA_CHARS = "×÷−·√π≤≥≠∞°"
CHARS = list(dict.fromkeys(string.printable + EXTRA_CHARS))  # printable includes \t \n \r \x0b \x0c

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def build_tiny_tokenizer() -> PreTrainedTokenizerFast:
    """Character-level tokenizer: one token per character, ``<unk>`` for anything else.

    Vocabulary = [<unk>, <|im_start|>, <|im_end|>] + printable ASCII + a few math symbols
    (~114 tokens). ``decode(encode(text)) == text`` for any text made of those characters.
    """
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS + CHARS)}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    # Every single character (newlines included) is its own "word".
    backend.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    backend.decoder = decoders.Fuse()  # concatenate, no spaces between characters
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token=UNK,
        bos_token=IM_START,
        eos_token=IM_END,
        pad_token=IM_END,
        padding_side="left",
        model_max_length=4096,
    )
    tokenizer.add_special_tokens({"additional_special_tokens": [IM_START, IM_END]})
    tokenizer.chat_template = CHATML_TEMPLATE
    return tokenizer


def build_tiny_model(
    tokenizer: PreTrainedTokenizerFast,
    *,
    seed: int = 0,
    hidden: int = 64,
    layers: int = 2,
    arch: str = "llama",
    init_std: float = 0.2,
) -> PreTrainedModel:
    """A random ``LlamaForCausalLM`` (or ``Qwen2ForCausalLM`` with ``arch="qwen2"``), float32.

    4 query heads and 2 key/value heads (so grouped-query attention is exercised), untied
    embeddings, RoPE, 4096 positions. ``init_std`` is larger than HF's 0.02 on purpose: the
    next-token distributions are then far from uniform (entropy well below log V), so tests
    comparing log-probs position by position can actually fail. Seeded without touching the
    global RNG.
    """
    common = dict(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        initializer_range=init_std,
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    if arch == "llama":
        config, cls = LlamaConfig(**common), LlamaForCausalLM
    elif arch == "qwen2":
        config, cls = Qwen2Config(**common), Qwen2ForCausalLM
    else:
        raise ValueError(f"unknown tiny arch {arch!r}: use 'llama' or 'qwen2'")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = cls(config).to(torch.float32)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model
