"""``hybridrl probe``: the Adaptive Switch through the real loop on the tiny model, with
scripted rewards (tests/methods/integration_rewards.py) so the decision is known."""

import json
import sys
from pathlib import Path

import pytest
import yaml

from hybridrl.cli import main
from hybridrl.pipelines.probe import run_probe
from hybridrl.config import build_config

sys.path.insert(0, str(Path(__file__).parent / "methods"))
from integration_rewards import reward_fn, write_scheduled_reward  # noqa: E402

TINY = dict(model="tiny", task="chain_sum", train_size=16, eval_size=0, prompts_per_step=2, group_size=4,
            max_new_tokens=8, micro_batch_size=8, lr=1e-3, progress=False)


def cfg_of(tmp_path, method="grpo", **kw):
    opts = {**TINY, "output_dir": str(tmp_path / "probe"), **kw}
    return build_config(None, {"method": method}, [f"{k}={v}" for k, v in opts.items()])


def test_cli_always_wrong_is_sparse(tmp_path, capsys):
    out = tmp_path / "p"
    args = [f"{k}={v}" for k, v in TINY.items() if k not in ("model", "task")]
    rc = main(["probe", "--model", "tiny", "--task", "chain_sum", "--steps", "3", "--output-dir", str(out),
               *args, f"reward_fn={reward_fn('always_zero')}"])
    assert rc == 0
    res = json.loads((out / "probe.json").read_text())
    # 2 prompts <= 32: SuperRL's small-batch defaults m = 10, thresholds 20 and 0.2; k = --steps
    assert res["k"] == 3 and res["m"] == 10 and res["increase_threshold"] == 20 and res["avg_threshold"] == 0.2
    assert res["rewards"] == [0.0, 0.0, 0.0]
    # 0 rises < 20 and mean 0 < 0.2 -> sparse
    assert res["increase_num"] == 0 and res["recent_avg"] == 0.0 and res["decision"] == "sparse"
    assert "overridden: superrl_k" in res["thresholds"]
    recs = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in recs] == [1, 2, 3] and recs[-1]["switch_decision"] == "sparse"
    assert "steps: 3" in (out / "config.yaml").read_text()
    printed = capsys.readouterr().out
    assert "decision: SPARSE" in printed and "step rewards: 0.000 0.000 0.000" in printed
    assert "increase_num = 0" in printed and "recent_avg   = 0 " in printed


def test_always_right_is_dense_by_average(tmp_path):
    # a hybrid's config (e.g. a recipe) probes with its rl_preset, next to its run folder
    config = tmp_path / "superrl.yaml"
    config.write_text(yaml.safe_dump({**TINY, "method": "superrl", "superrl_k": 2, "rl_preset": "dr_grpo",
                                      "reward_fn": reward_fn("always_one"), "output_dir": str(tmp_path / "run")}))
    assert main(["probe", "--config", str(config)]) == 0
    res = json.loads((tmp_path / "run" / "probe" / "probe.json").read_text())
    assert res["rl"] == {"method": "grpo", "preset": "dr_grpo"}
    assert res["rewards"] == [1.0, 1.0] and res["increase_num"] == 0
    assert res["recent_avg"] == 1.0 and res["decision"] == "dense"  # 1.0 >= 0.2
    assert res["reason"].startswith("dense") and "recent_avg >= 0.2" in res["reason"]


def test_rising_reward_is_dense_by_increases(tmp_path):
    # every completion of step t scores values[t]: the batch means are exactly `values`
    values = [0.0, 0.05, 0.1]
    fn = write_scheduled_reward(tmp_path, values, per_step=2 * 4)
    res = run_probe(cfg_of(tmp_path, superrl_k=3, superrl_m=2, superrl_increase_threshold=2,
                           superrl_avg_threshold=0.5, reward_fn=fn))
    assert res["rewards"] == pytest.approx(values)
    # 2 rises >= 2 -> dense, although recent_avg = mean(0.05, 0.1) = 0.075 < 0.5
    assert res["increase_num"] == 2 and res["recent_avg"] == pytest.approx(0.075)
    assert res["decision"] == "dense" and "increase_num >= 2" in res["reason"]
    assert "recent_avg >=" not in res["reason"]
