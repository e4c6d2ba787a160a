"""Prompt templates and SFT targets: the exact text the model sees (tokenizer built in code)."""

import pytest
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import Whitespace
from transformers import PreTrainedTokenizerFast

from hybridrl.schema import Row
from hybridrl.data.templates import INSTRUCTION, TEMPLATES, format_demonstration, format_prompt
from hybridrl.rewards.extract import extract_answer

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@pytest.fixture(scope="module")
def tokenizer():
    vocab = {"[UNK]": 0, "<|im_start|>": 1, "<|im_end|>": 2}
    tok = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", eos_token="<|im_end|>",
                                   chat_template=CHATML)


ROW = Row("What is 2 + 3?  ", ["5"], "2 + 3 = 5. The answer is \\boxed{5}.")


def test_vanilla_exact_text():
    assert format_prompt(ROW, "vanilla") == (
        "What is 2 + 3?\nLet's think step by step and output the final answer in \\boxed{}.\n"
    )


def test_chat_exact_text(tokenizer):
    assert format_prompt(ROW, "chat", tokenizer) == (
        "<|im_start|>user\nWhat is 2 + 3?\n"
        "Let's think step by step and output the final answer in \\boxed{}.<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_r1_exact_text(tokenizer):
    assert format_prompt(ROW, "r1", tokenizer) == (
        "<|im_start|>user\nWhat is 2 + 3?\n"
        "Think step by step inside <think> </think> tags, then give the final answer inside "
        "<answer> </answer> tags.<|im_end|>\n"
        "<|im_start|>assistant\n<think>\n"
    )


def test_message_prompt_gets_instruction_on_last_user_message(tokenizer):
    row = Row([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
               {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "What is 1 + 1?"}], ["2"])
    assert format_prompt(row, "chat", tokenizer) == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\nHello<|im_end|>\n"
        f"<|im_start|>user\nWhat is 1 + 1?\n{INSTRUCTION}<|im_end|>\n<|im_start|>assistant\n"
    )
    assert row.prompt[3]["content"] == "What is 1 + 1?"  # the row itself is not modified
    assert format_prompt(row, "vanilla") == f"Be brief.\n\nHi\n\nHello\n\nWhat is 1 + 1?\n{INSTRUCTION}\n"


def test_errors(tokenizer):
    with pytest.raises(ValueError, match="unknown prompt template 'r2'"):
        format_prompt(ROW, "r2", tokenizer)
    no_template = PreTrainedTokenizerFast(tokenizer_object=tokenizer.backend_tokenizer, unk_token="[UNK]")
    with pytest.raises(ValueError, match="needs a tokenizer with a chat template"):
        format_prompt(ROW, "chat", no_template)
    with pytest.raises(ValueError, match="no 'user' message"):
        format_prompt(Row([{"role": "system", "content": "x"}], ["1"]), "chat", tokenizer)
    with pytest.raises(ValueError, match="has no demonstration"):
        format_demonstration(Row("q", ["1"], id="x"), "chat")


def test_demonstration_targets():
    assert format_demonstration(ROW, "vanilla") == ROW.demonstration
    assert format_demonstration(ROW, "chat") == ROW.demonstration
    assert format_demonstration(ROW, "r1") == (
        "2 + 3 = 5. The answer is \\boxed{5}.\n</think>\n<answer>5</answer>"
    )
    unboxed = Row("q", ["5"], "2 + 3 = 5.")
    assert format_demonstration(unboxed, "chat") == "2 + 3 = 5.\nThe answer is \\boxed{5}."
    assert format_demonstration(unboxed, "r1") == "2 + 3 = 5.\n</think>\n<answer>5</answer>"


@pytest.mark.parametrize("template", TEMPLATES)
def test_demonstration_answer_is_extracted(template):
    row = Row("q", ["Amelia is a hero"], "Check. The answer is \\boxed{Amelia is a hero}.")
    assert extract_answer(format_demonstration(row, template)) == "Amelia is a hero"
