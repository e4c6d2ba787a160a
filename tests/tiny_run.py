"""The one tiny-run configuration of the test suite: the random tiny model on a built-in task,
2 prompts x 4 completions a step, fp32, scored by ``scripted_rewards.even_length``. Each suite
derives its run from :data:`TINY_RUN` and says what it changes (a shorter completion, no
held-out split ...), so the runs differ only where a test needs them to."""

from __future__ import annotations

from typing import Any

TINY_RUN: dict[str, Any] = dict(
    model="tiny", task="chain_sum", train_size=16, eval_size=4, prompts_per_step=2, group_size=4,
    max_new_tokens=12, micro_batch_size=4, lr=1e-3, progress=False,
    reward_fn="scripted_rewards:even_length",
    # fp32 on every machine: bf16=auto turns autocast on where the CPU has AVX-512 BF16,
    # and the tests compare against fp32 arithmetic (CI runs on both kinds of CPU)
    bf16=False)


def tiny_run(**changes: Any) -> dict[str, Any]:
    """:data:`TINY_RUN` with ``changes`` (a key set to None is dropped)."""
    return {k: v for k, v in {**TINY_RUN, **changes}.items() if v is not None}


def as_overrides(settings: dict[str, Any], flags: tuple[str, ...] = ()) -> list[str]:
    """``settings`` as CLI arguments: the keys in ``flags`` as ``--key value``, the rest as
    ``key=value`` (booleans lower-case)."""
    def text(v: Any) -> str:
        return str(v).lower() if isinstance(v, bool) else str(v)

    out = []
    for k in flags:
        if k in settings:
            out += [f"--{k.replace('_', '-')}", text(settings[k])]
    return out + [f"{k}={text(v)}" for k, v in settings.items() if k not in flags]
