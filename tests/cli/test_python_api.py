"""#14 item 11 (and item 4's callable reward): the Python API for notebooks,
``from hybridrl import TrainConfig, train, evaluate, compare``, checked exactly like the CLI."""

import json
from pathlib import Path

import pytest
import yaml

from hybridrl.report.runs import read_config
from hybridrl import ConfigError, TrainConfig, compare, evaluate, train

SMALL = dict(model="tiny", task="chain_sum", train_size=8, eval_size=2, prompts_per_step=2, group_size=2,
             max_new_tokens=8, micro_batch_size=4, progress=False)


def test_config_is_checked_when_built():
    # before #14: TrainConfig(steps="2") reached a TypeError deep inside the loop
    with pytest.raises(ConfigError, match=r"config key 'steps': expected int, got '2' \(str\)"):
        TrainConfig(steps="2")
    with pytest.raises(ConfigError, match=r"config key 'beta': must be >= 0"):
        TrainConfig(beta=-1.0)
    # name checks run in train(), before any model loads
    with pytest.raises(ConfigError, match=r"unknown model 'smolm2-135m' \(did you mean smollm2-135m\?\)"):
        train(TrainConfig(**{**SMALL, "model": "smolm2-135m"}))


def test_train_with_a_python_callable_reward_then_resume_and_evaluate(tmp_path):
    out = tmp_path / "run"
    seen = []  # a closure over a local: only by-value serialisation (dill) can ship it to the workers
    bonus = 1.0

    def reward(completion, row):
        return bonus * float(len(completion) % 2 == 0) + 0.0 * len(seen)

    summary = train(TrainConfig(**SMALL, method="grpo", steps=2, output_dir=str(out), reward_fn=reward))
    assert summary["output_dir"] == str(out) and Path(summary["checkpoint"]).name == "step-000002"
    saved = read_config(out)  # before #14: RepresenterError here
    assert saved["reward_fn"] == f"{(out / 'reward_fn.py').resolve()}:{reward.__qualname__.replace('.', '_').replace('<', '_').replace('>', '_')}"
    recs = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    assert all(r["reward/errors"] == 0 for r in recs)  # the workers ran the callable
    # the rewards are the callable's: every sample scores 0 or 1 (even_length), never an error's 0 only
    assert any(r["reward"] > 0 for r in recs)

    # continue it, with its own config (the callable's file is part of the run)
    summary = train(resume=out, steps=3)
    assert Path(summary["checkpoint"]).name == "step-000003"
    with pytest.raises(ConfigError, match=r"these would change what the run trains: method 'grpo' -> 'sft'"):
        train(resume=out, steps=4, method="sft")

    res = evaluate(out, task="chain_sum", size=2, max_new_tokens=4)
    assert res["sets"]["chain_sum"]["n"] == 2


def test_compare_from_python(tmp_path):
    res = compare(["grpo", "sft"], output_dir=tmp_path / "cmp", task="chain_sum", model="tiny", steps=1,
                  overrides={k: v for k, v in SMALL.items() if k not in ("model", "task")} | {"reward_fn": "scripted_rewards:even_length"},
                  eval_size=2, evaluate_base=False)
    assert set(res["evals"]) == {"grpo", "sft"} and Path(res["report"]["markdown"]).exists()


def test_hybridrl_train_is_the_api_function_and_the_import_stays_light():
    # the training code is the package hybridrl.training; hybridrl.train is only the function,
    # whatever has been imported before (once a package of that name rebound the attribute)
    import subprocess
    import sys

    code = ("import sys, hybridrl; heavy = [m for m in ('torch', 'transformers', 'hybridrl.api') if m in sys.modules]; "
            "assert not heavy, heavy; "
            "import hybridrl.training.loop.trainer, hybridrl.api; "
            "assert hybridrl.train is hybridrl.api.train, hybridrl.train")
    subprocess.run([sys.executable, "-c", code], check=True)
