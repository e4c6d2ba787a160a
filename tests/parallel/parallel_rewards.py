"""Scripted rewards for the multi-process CLI tests (imported by reward workers by name)."""


def even_length_on_even_rows(completion: str, row) -> float:
    """1 for an even-length completion of an even-numbered row (ids ``<task>-train-<n>``), else 0:
    odd rows never get a correct rollout, so HPT's gate (γ = 0) sends them to SFT and the others
    (mostly) to RL — the ranks then hold different terms and numbers of micro-batches."""
    n = int(str(row.id).rsplit("-", 1)[-1])
    return float(n % 2 == 0 and len(completion) % 2 == 0)
