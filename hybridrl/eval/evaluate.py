"""Evaluate a model on rows: greedy exact match, avg@k and pass@k from sampled answers."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from hybridrl.data.schema import Row
from hybridrl.eval.metrics import bootstrap_ci, pass_at_k


def evaluate_rows(
    model,
    tokenizer,
    rows: list[Row],
    *,
    template: str = "chat",
    max_new_tokens: int = 256,
    samples: int = 0,
    temperature: float = 0.6,
    top_p: float = 0.95,
    ks: tuple[int, ...] = (1,),
    bf16: bool = False,
    batch_size: int = 16,
    seed: int = 0,
    progress: bool = True,
    timeout_s: float = 2.0,
    reward_fn: str | None = None,
) -> dict[str, Any]:
    """Greedy accuracy always; with ``samples`` > 0 also avg@samples and pass@k (HPT protocol:
    T = 0.6, top-p 0.95). Returns totals, a per-task/difficulty breakdown and per-row results."""
    from tqdm.auto import tqdm

    from hybridrl.data.templates import format_prompt
    from hybridrl.rewards.scoring import score_completions
    from hybridrl.rollout.generator import HFGenerator
    from hybridrl.rollout.types import SamplingParams

    gen = HFGenerator(model, tokenizer, bf16=bf16)
    per_row: list[dict[str, Any]] = []
    total = len(rows) * (1 + samples)
    bar = tqdm(total=total, disable=not progress, desc="eval", unit="completion", dynamic_ncols=True)
    for start in range(0, len(rows), batch_size):
        batch = rows[start: start + batch_size]
        ids = [tokenizer(format_prompt(r, template, tokenizer), add_special_tokens=False)["input_ids"] for r in batch]
        greedy = gen.generate(ids, SamplingParams(n=1, max_new_tokens=max_new_tokens, greedy=True))
        g_res, _ = score_completions(greedy.texts, batch, timeout_s=timeout_s, reward_fn=reward_fn)
        bar.update(len(batch))
        s_res = None
        if samples > 0:
            sampled = gen.generate(ids, SamplingParams(n=samples, max_new_tokens=max_new_tokens, temperature=temperature,
                                                       top_p=top_p, seed=seed + start))
            s_rows = [batch[int(i)] for i in sampled.prompt_index]
            s_res, _ = score_completions(sampled.texts, s_rows, timeout_s=timeout_s, reward_fn=reward_fn)
            bar.update(len(s_rows))
        for j, row in enumerate(batch):
            rec = {"id": row.id, "task": row.task, "difficulty": row.difficulty,
                   "greedy_correct": bool(g_res[j].correct), "greedy_text": greedy.texts[j],
                   "greedy_extracted": g_res[j].extracted}
            if s_res is not None:
                rec["sample_correct"] = sum(bool(r.correct) for r in s_res[j * samples:(j + 1) * samples])
            per_row.append(rec)
    bar.close()
    return summarize(per_row, samples=samples, ks=ks)


def summarize(per_row: list[dict[str, Any]], *, samples: int = 0, ks: tuple[int, ...] = (1,)) -> dict[str, Any]:
    """Totals and breakdowns from per-row results (also used on saved eval files)."""
    n = len(per_row)
    g = [1.0 if r["greedy_correct"] else 0.0 for r in per_row]
    out: dict[str, Any] = {"n": n, "greedy_correct": sum(g), "greedy_accuracy": sum(g) / max(1, n),
                           "greedy_ci95": bootstrap_ci(g), "samples": samples}
    if samples > 0:
        avg = [r["sample_correct"] / samples for r in per_row]
        out[f"avg@{samples}"] = sum(avg) / max(1, n)
        out[f"avg@{samples}_ci95"] = bootstrap_ci(avg)
        for k in ks:
            if k <= samples:
                out[f"pass@{k}"] = sum(pass_at_k(samples, r["sample_correct"], k) for r in per_row) / max(1, n)
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in per_row:
        groups[f"{r['task']}|{r['difficulty']}"].append(r)
    if len(groups) > 1:
        out["breakdown"] = {key: summarize(rs, samples=samples, ks=ks) | {"breakdown": None} for key, rs in groups.items()}
    out["rows"] = per_row
    return out
