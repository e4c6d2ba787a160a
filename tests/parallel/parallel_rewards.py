"""Scripted rewards for the multi-process CLI tests (imported by reward workers by name)."""


def even_length_on_even_prompts(completion: str, row) -> float:
    """1 for an even-length completion of a prompt of even length, else 0: prompts of odd length
    never get a correct rollout, so HPT's gate (γ = 0) sends them to SFT and the others to RL —
    the two ranks then hold different terms and numbers of micro-batches."""
    prompt = row.prompt if isinstance(row.prompt, str) else str(row.prompt)
    return float(len(prompt) % 2 == 0 and len(completion) % 2 == 0)
