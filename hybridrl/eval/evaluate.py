"""Evaluate a model on rows: greedy exact match, avg@k and pass@k from sampled answers.

Results are plain JSON-able dicts (written to ``eval.json``):

    {"model": ..., "settings": {...}, "sets": {set_name: summary}}
    summary = {"n", "greedy_correct", "greedy_accuracy", "greedy_ci95", "samples",
               "avg@K", "avg@K_ci95", "pass@k", "pass@k_ci95", "pass_curve",
               "greedy_reward", "sample_reward" (with a reward_fn: mean reward, apart from accuracy),
               "breakdown": {"task/level": summary without rows} (only when there are several groups),
               "rows": [per-question records: id, task, difficulty, greedy_correct, sample_correct, ...]}
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hybridrl.schema import Row
from hybridrl.eval.metrics import bootstrap_ci, difficulty_label, pass_at_k, pass_at_k_curve


@dataclass(frozen=True)
class EvalSettings:
    """How answers are generated and scored (HPT protocol for sampling: T = 0.6, top-p 0.95)."""

    template: str = "chat"
    max_new_tokens: int = 256
    samples: int = 0
    """Sampled completions per question for avg@samples and pass@k (0 = greedy only)."""
    temperature: float = 0.6
    top_p: float = 0.95
    ks: tuple[int, ...] = (1,)
    bf16: bool = False
    batch_size: int = 16
    seed: int = 0
    timeout_s: float = 2.0
    reward_fn: str | None = None
    """A user reward ("module:function"), scored and reported *apart* from correctness:
    accuracy is always the task verifier's."""
    rollout_engine: str = "hf"
    """What generates the answers: ``hf``, ``vllm`` or ``auto`` (as the training key)."""


def evaluate_rows(model, tokenizer, rows: list[Row], *, ks: tuple[int, ...] = (1,), **score) -> dict[str, Any]:
    """Greedy accuracy always; with ``samples`` > 0 also avg@samples and pass@k (HPT protocol:
    T = 0.6, top-p 0.95). Returns totals, a per-task/difficulty breakdown and per-row results.

    ``score``: the keywords of :func:`hybridrl.training.loop.heldout.score_rows` (``template``,
    ``max_new_tokens``, ``samples``, ``temperature``, ``top_p``, ``bf16``, ``batch_size``,
    ``seed``, ``progress``, ``timeout_s``, ``reward_fn``, ``desc``, ``generator``: the engine
    to answer with, default HF generate on ``model``)."""
    from hybridrl.training.loop.heldout import score_rows

    per_row = score_rows(model, tokenizer, rows, **score)
    check_scored(per_row, score.get("reward_fn"))
    return summarize(per_row, samples=score.get("samples", 0), ks=ks)


def check_scored(per_row: list[dict[str, Any]], reward_fn: str | None = None) -> None:
    """Refuse results that are zeros only because nothing could be scored: a
    verifier or ``reward_fn`` that failed on every answer raises :class:`ConfigError` with its
    first error, instead of reporting accuracy or reward 0."""
    from hybridrl.config import ConfigError

    if not per_row:
        return
    for key, what in (("greedy_error", "the task verifier"), ("reward_error", f"reward_fn {reward_fn}")):
        errs = [r[key] for r in per_row if r.get(key)]
        if key == "reward_error" and not reward_fn:
            continue
        if len(errs) == len(per_row):
            raise ConfigError(f"{what} failed on every answer (first error: {errs[0]}); nothing was scored, "
                              f"so no accuracy is reported")


def summarize(per_row: list[dict[str, Any]], *, samples: int = 0, ks: tuple[int, ...] = (1,),
              breakdown: bool = True) -> dict[str, Any]:
    """Totals, bootstrap CIs and a per ``task/difficulty`` breakdown from per-row results
    (also used on saved eval files)."""
    n = len(per_row)
    g = [1.0 if r["greedy_correct"] else 0.0 for r in per_row]
    out: dict[str, Any] = {"n": n, "greedy_correct": sum(g), "greedy_accuracy": sum(g) / max(1, n),
                           "greedy_ci95": bootstrap_ci(g), "samples": samples}
    if samples > 0:
        counts = [int(r["sample_correct"]) for r in per_row]
        avg = [c / samples for c in counts]
        out[f"avg@{samples}"] = sum(avg) / max(1, n)
        out[f"avg@{samples}_ci95"] = bootstrap_ci(avg)
        for k in ks:
            if 1 <= k <= samples:
                vals = [pass_at_k(samples, c, k) for c in counts]
                out[f"pass@{k}"] = sum(vals) / max(1, n)
                out[f"pass@{k}_ci95"] = bootstrap_ci(vals)
        out["pass_curve"] = {str(k): v for k, v in pass_at_k_curve(samples, counts).items()}
    for key in ("greedy_reward", "sample_reward"):  # a reward_fn's mean, apart from accuracy
        vals = [r[key] for r in per_row if key in r]
        if vals:
            out[key] = sum(vals) / len(vals)
            out[f"{key}_ci95"] = bootstrap_ci(vals)
    if breakdown:
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in per_row:
            groups[difficulty_label(r)].append(r)
        if len(groups) > 1:
            out["breakdown"] = {key: summarize(rs, samples=samples, ks=ks, breakdown=False)
                                for key, rs in sorted(groups.items())}
        out["rows"] = per_row
    return out


# ---------------------------------------------------------------------------------------
# several eval sets, one model


def parse_task_specs(spec: str, *, size: int, seed: int, difficulty: str | None = None) -> dict[str, list[Row]]:
    """``chain_sum,knights_knaves:2`` -> {set name: test rows}. ``name:level`` picks a
    difficulty per set; ``difficulty`` is the default for the others."""
    from hybridrl.data.tasks import build_task

    sets: dict[str, list[Row]] = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        name, _, level = item.partition(":")
        level = level or difficulty
        sets[item] = build_task(name, size=size, seed=seed, difficulty=level, split="test")
    return sets


def load_data_sets(paths: list[str], columns: dict[str, str | None] | None = None,
                   split: str | None = None, taken: tuple[str, ...] | list[str] = ()) -> dict[str, list[Row]]:
    """Data files -> {file stem (made unique): rows}. ``columns`` maps our fields to the files'
    own column names (``{"prompt": "question"}``, as training's ``prompt_column=``); ``split``
    picks a split of a datasets folder (default: ``test`` when it has one, else as training).
    ``taken``: set names already in use (a name is never reused: one set would replace another)."""
    from hybridrl.data.loading import eval_split_of, load_rows

    sets: dict[str, list[Row]] = {}
    for p in paths:
        name = Path(p).stem if Path(p).is_file() else Path(p).name
        while name in sets or name in taken:
            name += "'"
        sets[name], _ = load_rows(p, columns=columns, split=split if split is not None else eval_split_of(p))
    return sets


def evaluate_model(model_name_or_path: str, sets: dict[str, list[Row]], settings: EvalSettings, *,
                   progress: bool = True, label: str | None = None, model_seed: int = 0) -> dict[str, Any]:
    """Load a model once and evaluate it on every set. Returns the ``eval.json`` structure.
    ``model_seed`` only matters for ``tiny`` (its random init; use the training seed)."""
    import torch

    from hybridrl.models.loading import load_model_and_tokenizer

    model, tok = load_model_and_tokenizer(model_name_or_path, seed=model_seed)
    if torch.cuda.is_available():
        model.cuda()
    model.eval()
    s = settings
    out = {"model": str(model_name_or_path), "label": label or str(model_name_or_path),
           "settings": asdict(s), "sets": {}}
    from hybridrl.config.rollout import RolloutSection
    from hybridrl.rollout.factory import build_generator

    # one engine for every set (vLLM starts once); the engine keys eval has not are at their defaults
    gen = build_generator(RolloutSection(rollout_engine=s.rollout_engine), model, tok, bf16=s.bf16, seed=s.seed)
    for name, rows in sets.items():
        out["sets"][name] = evaluate_rows(
            model, tok, rows, template=s.template, max_new_tokens=s.max_new_tokens, samples=s.samples,
            temperature=s.temperature, top_p=s.top_p, ks=s.ks, bf16=s.bf16, batch_size=s.batch_size, seed=s.seed,
            progress=progress, timeout_s=s.timeout_s, reward_fn=s.reward_fn, desc=f"eval {label or ''} {name}".strip(),
            generator=gen)
    if hasattr(gen, "close"):
        gen.close()
    del model
    return out


def load_eval(path: str | Path) -> dict[str, Any]:
    """An ``eval.json`` (or a folder holding one)."""
    p = Path(path)
    if p.is_dir():
        p = p / "eval.json"
    if not p.exists():
        raise FileNotFoundError(f"no eval results at {p}")
    data = json.loads(p.read_text())
    if "sets" not in data:  # a single-set result (older ``--out`` files)
        data = {"model": str(path), "label": str(path), "settings": {}, "sets": {"data": data}}
    return data


def final_model_dir(run_dir: str | Path) -> Path | None:
    """The model folder of a run's latest complete checkpoint (None if there is none)."""
    from hybridrl.training.persistence.checkpoint import latest_checkpoint

    c = latest_checkpoint(Path(run_dir))
    return (c / "model") if c is not None else None
