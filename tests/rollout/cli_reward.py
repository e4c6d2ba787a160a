"""A reward for the vLLM CLI test: non-zero variance on a random tiny model (so the update has a
gradient and the engine must re-sync), independent of the task."""


def parity_reward(completion: str, row) -> float:
    return float(len(completion) % 2 == 0)
