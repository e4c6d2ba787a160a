"""Score a model on held-out rows: greedy answers (and optionally sampled ones), one record
per row. The core of evaluation, below both the training loop (its periodic held-out
accuracy) and :mod:`hybridrl.eval` (which adds confidence intervals, pass@k and reports)."""

from __future__ import annotations

from typing import Any

from hybridrl.schema import Row


def score_rows(
    model,
    tokenizer,
    rows: list[Row],
    *,
    template: str = "chat",
    max_new_tokens: int = 256,
    samples: int = 0,
    temperature: float = 0.6,
    top_p: float = 0.95,
    bf16: bool = False,
    batch_size: int = 16,
    seed: int = 0,
    progress: bool = True,
    timeout_s: float = 2.0,
    reward_fn: str | None = None,
    desc: str = "eval",
    generator: Any = None,
) -> list[dict[str, Any]]:
    """Per-row results of ``rows``: the greedy answer and whether it is correct, and with
    ``samples`` > 0 the number of correct sampled answers (``sample_correct``).

    Correctness always comes from the row's verifier (the task's, docs/design.md §3). A ``reward_fn``
    ("module:function") is scored *apart*: ``greedy_reward`` and, with samples,
    ``sample_reward`` (the mean over the samples) — a custom reward never becomes "accuracy".
    ``greedy_error`` / ``reward_error`` hold the first scoring error of the row (else absent),
    so a caller can tell "scored 0" from "could not score".

    ``generator``: the engine to answer with (e.g. the trainer's, or ``rollout.factory.
    build_generator``'s vLLM engine); default HF generate on ``model``. An engine that schedules
    its own batches (``batches_itself``, vLLM) gets every row in one call."""
    from tqdm.auto import tqdm

    from hybridrl.data.templates import format_prompt
    from hybridrl.rollout.generator import HFGenerator
    from hybridrl.rollout.types import SamplingParams

    gen = generator if generator is not None else HFGenerator(model, tokenizer, bf16=bf16)
    if getattr(gen, "batches_itself", False):
        batch_size = max(batch_size, len(rows))
    per_row: list[dict[str, Any]] = []
    total = len(rows) * (1 + samples)
    bar = tqdm(total=total, disable=not progress, desc=desc, unit="completion", dynamic_ncols=True)
    for start in range(0, len(rows), batch_size):
        batch = rows[start: start + batch_size]
        ids = [tokenizer(format_prompt(r, template, tokenizer), add_special_tokens=False)["input_ids"] for r in batch]
        greedy = gen.generate(ids, SamplingParams(n=1, max_new_tokens=max_new_tokens, greedy=True, return_logprobs=False))
        g_res, g_rew = _scored(greedy.texts, batch, timeout_s, reward_fn)
        bar.update(len(batch))
        s_res = s_rew = None
        if samples > 0:
            sampled = gen.generate(ids, SamplingParams(n=samples, max_new_tokens=max_new_tokens, temperature=temperature,
                                                       top_p=top_p, seed=seed + start, return_logprobs=False))
            s_res, s_rew = _scored(sampled.texts, [batch[int(i)] for i in sampled.prompt_index], timeout_s, reward_fn)
            bar.update(len(sampled.texts))
        per_row += [_row_record(row, start + j, j, greedy.texts[j], g_res, g_rew, s_res, s_rew, samples)
                    for j, row in enumerate(batch)]
    bar.close()
    return per_row


def _scored(texts: list[str], rows: list[Row], timeout_s: float, reward_fn: str | None) -> tuple[list, list | None]:
    """The verifier's results of ``texts`` against ``rows`` and, with a ``reward_fn``, its own
    (scored apart; None without one)."""
    from hybridrl.rewards.scoring import score_completions

    res, _ = score_completions(texts, rows, timeout_s=timeout_s)
    rew = score_completions(texts, rows, timeout_s=timeout_s, reward_fn=reward_fn)[0] if reward_fn else None
    return res, rew


def _row_record(row: Row, position: int, j: int, greedy_text: str, g_res, g_rew, s_res, s_rew,
                samples: int) -> dict[str, Any]:
    """The record of the ``j``-th row of a batch (``position`` in ``rows``): greedy correctness
    and text, the custom reward apart, the first scoring error, the samples' counts."""
    rec = {"id": row.id if row.id is not None else f"row-{position}", "task": row.task,
           "difficulty": row.difficulty, "greedy_correct": bool(g_res[j].correct),
           "greedy_text": greedy_text, "greedy_extracted": g_res[j].extracted}
    if g_res[j].error:
        rec["greedy_error"] = g_res[j].error
    mine = slice(j * samples, (j + 1) * samples)
    if g_rew is not None:
        rec["greedy_reward"] = g_rew[j].score
        errors = [r.error for r in [g_rew[j], *(s_rew[mine] if s_rew else [])] if r.error]
        if errors:
            rec["reward_error"] = errors[0]
    if s_res is not None:
        rec["sample_correct"] = sum(bool(r.correct) for r in s_res[mine])
    if s_rew is not None:
        rec["sample_reward"] = sum(r.score for r in s_rew[mine]) / samples
    return rec
