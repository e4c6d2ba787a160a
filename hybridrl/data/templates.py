"""Prompt templates and SFT targets (docs/design.md §3): exactly what the model sees.

``format_prompt(row, template, tokenizer)`` returns the full prompt *text* (tokenization, BOS
handling and truncation are the caller's job); ``format_demonstration(row, template)`` returns the
completion text an SFT term trains on, to be appended directly after that prompt (no EOS token is
added here; the trainer appends the tokenizer's EOS). For a question ``Q`` (stripped):

``vanilla`` (plain text, no chat template, for base models)::

    Q
    Let's think step by step and output the final answer in \\boxed{}.
    <- the completion starts here, after that newline

``chat``: ``tokenizer.apply_chat_template([{"role": "user", "content": "Q\\n" + INSTRUCTION}],
add_generation_prompt=True)``, e.g. for ChatML::

    <|im_start|>user
    Q
    Let's think step by step and output the final answer in \\boxed{}.<|im_end|>
    <|im_start|>assistant

``r1``: the chat template with ``R1_INSTRUCTION`` instead, and the assistant turn opened with
``<think>`` followed by a newline (part of the prompt, so the model only continues the thought)::

    <|im_start|>user
    Q
    Think step by step inside <think> </think> tags, then give the final answer inside <answer> </answer> tags.<|im_end|>
    <|im_start|>assistant
    <think>

If ``row.prompt`` is a list of chat messages it is used as is, with the instruction appended
(after a newline) to the last user message; ``vanilla`` then joins the message contents with a
blank line (no roles). Demonstrations: ``vanilla``/``chat`` train on the demonstration as is, plus
``The answer is \\boxed{answer[0]}.`` when it has no box; ``r1`` trains on
``<demonstration>\\n</think>\\n<answer>FINAL</answer>`` with FINAL the demonstration's last box
(else ``answer[0]``); the opening ``<think>`` is in the prompt.
"""

from __future__ import annotations

from typing import Any

from hybridrl.schema import Row

__all__ = ["TEMPLATES", "INSTRUCTION", "R1_INSTRUCTION", "R1_PREFIX", "format_prompt", "format_demonstration"]

TEMPLATES = ("vanilla", "chat", "r1")
INSTRUCTION = "Let's think step by step and output the final answer in \\boxed{}."
R1_INSTRUCTION = (
    "Think step by step inside <think> </think> tags, then give the final answer inside <answer> </answer> tags."
)
R1_PREFIX = "<think>\n"
"""Appended to the chat prompt by ``r1``: the assistant turn starts inside the thought."""


def _check_template(template: str) -> None:
    if template not in TEMPLATES:
        raise ValueError(f"unknown prompt template {template!r}; choose one of {', '.join(TEMPLATES)}")


def _messages(row: Row, instruction: str) -> list[dict[str, str]]:
    """The row's messages with ``instruction`` appended to the last user message."""
    if isinstance(row.prompt, str):
        return [{"role": "user", "content": f"{row.prompt.strip()}\n{instruction}"}]
    messages = [dict(m) for m in row.prompt]
    users = [i for i, m in enumerate(messages) if m.get("role") == "user"]
    if not users:
        raise ValueError(f"row {row.id!r}: the prompt messages have no 'user' message to add the instruction to")
    last = messages[users[-1]]
    last["content"] = f"{last['content'].rstrip()}\n{instruction}"
    return messages


def _apply_chat_template(tokenizer: Any, messages: list[dict[str, str]]) -> str:
    if tokenizer is None or not getattr(tokenizer, "chat_template", None):
        raise ValueError(
            "this prompt template needs a tokenizer with a chat template; "
            "use template 'vanilla' for a model without one"
        )
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def format_prompt(row: Row, template: str, tokenizer: Any = None) -> str:
    """The full prompt text for ``row`` under ``template`` (see the module docstring).

    ``tokenizer`` (a ``transformers`` tokenizer) is needed for ``chat`` and ``r1`` only.
    """
    _check_template(template)
    if template == "vanilla":
        if isinstance(row.prompt, str):
            return f"{row.prompt.strip()}\n{INSTRUCTION}\n"
        return "\n\n".join(m["content"] for m in _messages(row, INSTRUCTION)) + "\n"
    if template == "chat":
        return _apply_chat_template(tokenizer, _messages(row, INSTRUCTION))
    return _apply_chat_template(tokenizer, _messages(row, R1_INSTRUCTION)) + R1_PREFIX


def format_demonstration(row: Row, template: str) -> str:
    """The SFT target for ``row`` under ``template`` (appended right after the prompt)."""
    from hybridrl.rewards.extract import extract_boxed  # lazy: keeps `import hybridrl.data` light

    _check_template(template)
    if not row.demonstration:
        raise ValueError(f"row {row.id!r} has no demonstration")
    demo = row.demonstration.strip()
    final = extract_boxed(demo)
    if template == "r1":
        return f"{demo}\n</think>\n<answer>{final if final is not None else row.answer[0]}</answer>"
    if final is None:
        demo = f"{demo}\nThe answer is \\boxed{{{row.answer[0]}}}."
    return demo
