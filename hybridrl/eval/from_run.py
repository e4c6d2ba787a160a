"""What an evaluation of a *run* takes from the run.

``hybridrl eval --model RUN`` (a run folder, one of its checkpoints, or a checkpoint's
``model/``) evaluates the model the way it was trained: the prompt template, the token budget,
the reward function and the data's column mapping come from the run's ``config.yaml``, unless
a flag (or a keyword of :func:`hybridrl.evaluate`) says otherwise. What was taken is printed,
so a reader of the log knows which settings produced the numbers.

Shared by the CLI and the Python API, so both resolve alike.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

DEFAULTS: dict[str, Any] = {"template": "chat", "max_new_tokens": 256, "reward_fn": None, "timeout_s": 2.0,
                            "prompt_column": None, "answer_column": None, "demonstration_column": None,
                            "data_split": None}
"""The eval options a run can supply, with their values when neither the user nor a run gives one."""

COLUMN_KEYS = ("prompt_column", "answer_column", "demonstration_column")


def locate_run(model: str | Path) -> tuple[Path | None, Path | None]:
    """``(run folder, model folder)`` for ``model`` if it is a run, one of its checkpoints
    (``RUN/checkpoints/step-N``) or a checkpoint's ``model/``; ``(None, None)`` otherwise.
    The model folder is None for a run with no complete checkpoint."""
    from hybridrl.eval.evaluate import final_model_dir
    from hybridrl.training.persistence.checkpoint import MARKER

    p = Path(model)
    if not p.is_dir():
        return None, None
    if (p / "checkpoints").is_dir() or (p / "config.yaml").is_file() and (p / "metrics.jsonl").exists():
        return p, final_model_dir(p)
    if (p / MARKER).exists() and p.parent.name == "checkpoints":
        return p.parent.parent, p / "model"
    if p.name == "model" and (p.parent / MARKER).exists() and p.parent.parent.name == "checkpoints":
        return p.parent.parent.parent, p
    return None, None


def run_eval_options(saved: dict[str, Any]) -> dict[str, Any]:
    """The eval options a run's saved config implies (only those it sets)."""
    out: dict[str, Any] = {}
    if saved.get("template"):
        out["template"] = saved["template"]
    budget = saved.get("eval_max_new_tokens") or saved.get("max_new_tokens")
    if budget:
        out["max_new_tokens"] = int(budget)
    if saved.get("reward_fn"):
        out["reward_fn"] = saved["reward_fn"]
    if saved.get("reward_timeout"):
        out["timeout_s"] = float(saved["reward_timeout"])
    for k in COLUMN_KEYS:
        if saved.get(k):
            out[k] = saved[k]
    return out


def resolve(model: str | Path, given: dict[str, Any], log: Callable[[str], None] | None = None
            ) -> tuple[str, dict[str, Any], dict[str, Any] | None]:
    """``(model to load, options, the run's saved config or None)``.

    ``given``: the user's options (a value of None = not given). Options missing there come from
    the run's config.yaml when ``model`` is a run (logged: ``taken from RUN/config.yaml: ...``),
    else from :data:`DEFAULTS`. A run without a complete checkpoint is a ConfigError."""
    from hybridrl.config import ConfigError, check_model_name
    from hybridrl.training.loop.runner import read_saved_config

    run, model_dir = locate_run(model)
    saved = read_saved_config(run) if run is not None else None
    opts = {k: v for k, v in given.items() if v is not None}
    if run is not None:
        if model_dir is None:
            raise ConfigError(f"--model {model}: the run in {run} has no complete checkpoint to evaluate yet")
        from_run = {k: v for k, v in run_eval_options(saved or {}).items() if k not in opts}
        if from_run and log is not None:
            shown = ", ".join(f"{'reward_timeout' if k == 'timeout_s' else k}={v}" for k, v in from_run.items()
                              if not (k == "timeout_s" and v == DEFAULTS[k]))  # training's names
            log(f"hybridrl: eval: taken from {run}/config.yaml: {shown} (flags override)")
        opts = {**from_run, **opts}
        model = str(model_dir)
    else:
        check_model_name(str(model))
    return str(model), {**DEFAULTS, **opts}, saved


def columns_of(opts: dict[str, Any]) -> dict[str, str | None]:
    """``{"prompt": ..., "answer": ..., "demonstration": ...}`` for :func:`load_rows`."""
    return {k.removesuffix("_column"): opts.get(k) for k in COLUMN_KEYS}
