"""Training/eval rows from a task or a file, checked before any model loads."""

from __future__ import annotations

from typing import Any

from hybridrl.schema import Row
from hybridrl.config import ConfigError, TrainConfig


def test_split_of_data(cfg: TrainConfig) -> bool:
    """True when ``data`` is a datasets folder with a ``test`` split, training reads another
    split and no ``eval_data`` is given: the test split is then the held-out set."""
    from hybridrl.data.loading import eval_split_of

    return (cfg.data is not None and cfg.eval_data is None and cfg.data_split != "test"
            and eval_split_of(cfg.data) == "test")


def load_train_eval_rows(cfg: TrainConfig) -> tuple[list[Row], list[Row], dict[str, Any]]:
    """(train rows, eval rows, data stats). Fails with a clear message on bad data or on a
    method that needs demonstrations when the data has none."""
    from hybridrl.data.loading import load_rows
    from hybridrl.data.tasks import build_task
    from hybridrl.methods.registry import method_spec

    stats: dict[str, Any] = {}
    columns = {"prompt": cfg.prompt_column, "answer": cfg.answer_column,
               "demonstration": cfg.demonstration_column}
    if cfg.data is not None:
        train, s = load_rows(cfg.data, columns=columns, split=cfg.data_split)
        stats["train"] = {k: v for k, v in s.items() if k != "rows"}
    else:
        train = build_task(cfg.task, size=cfg.train_size, seed=cfg.seed, difficulty=cfg.difficulty, split="train")
    if cfg.eval_data is not None:
        evals, s = load_rows(cfg.eval_data, columns=columns, split=cfg.eval_data_split)
        stats["eval"] = {k: v for k, v in s.items() if k != "rows"}
    elif test_split_of_data(cfg):  # a datasets folder with a test split: that is the eval set
        evals, s = load_rows(cfg.data, columns=columns, split="test")
        stats["eval"] = {k: v for k, v in s.items() if k != "rows"}
    elif cfg.task is not None:
        evals = build_task(cfg.task, size=cfg.eval_size, seed=cfg.seed, difficulty=cfg.difficulty, split="test")
    else:
        evals = []
    if not train:
        raise ConfigError("the training data has no rows")
    spec = method_spec(cfg.method)
    with_demo = sum(1 for r in train if r.demonstration)
    stats["train_rows"], stats["train_rows_with_demo"], stats["eval_rows"] = len(train), with_demo, len(evals)
    if spec.needs_demos and with_demo == 0:
        raise ConfigError(
            f"method '{cfg.method}' trains on demonstrations, but no training row has a (verified) "
            f"'demonstration' field; if a column of {cfg.data} holds worked solutions, pass "
            f"demonstration_column=NAME; else use a built-in task (they ship demonstrations) or add them"
        )
    if len(train) < cfg.prompts_per_step:
        raise ConfigError(
            f"config key 'prompts_per_step': {cfg.prompts_per_step} prompts per step but only {len(train)} training rows"
        )
    return train, evals, stats
