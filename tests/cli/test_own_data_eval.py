"""#29 items 1–5: own data (other column names), own reward, own run — through eval and compare
exactly as through train; no silent zeros, no silent choices. Tiny model, seconds per test."""

import json
from pathlib import Path

import pytest
import yaml

from cli_helpers import error_lines
from hybridrl.report.runs import read_config
from hybridrl import ConfigError, TrainConfig, compare, evaluate, train
from hybridrl.cli import main

SMALL = dict(model="tiny", train_size=8, eval_size=2, prompts_per_step=2, group_size=2, max_new_tokens=8,
             micro_batch_size=4, progress=False)


def own_data(path: Path, n: int = 4) -> Path:
    """A user's file with their own column names: question / final (not prompt / answer)."""
    path.write_text("".join(json.dumps({"question": f"What is {i} + {i}?", "final": str(2 * i)}) + "\n"
                            for i in range(n)))
    return path


# ------------------------------------------------------------------ item 1: callables, no silent 0


def test_evaluate_takes_a_python_callable_reward_and_never_scores_an_error_as_0(tmp_path):
    # before #29: AttributeError 'function' object has no attribute 'rpartition' in the workers,
    # logged, and the evaluation returned greedy_accuracy 0.0
    def local_one(completion, row):  # defined here: only by-value serialisation reaches the workers
        return 1.0

    res = evaluate("tiny", task="chain_sum", size=2, max_new_tokens=4, reward_fn=local_one)
    s = res["sets"]["chain_sum"]
    assert s["greedy_reward"] == 1.0 and all("reward_error" not in r for r in s["rows"])

    def broken(completion, row):
        raise RuntimeError("reward bug")

    # a reward that fails on every answer is refused with its error, not reported as 0
    with pytest.raises(ConfigError, match=r"reward_fn .* failed on every answer \(first error: RuntimeError: reward bug\)"):
        evaluate("tiny", task="chain_sum", size=2, max_new_tokens=4, reward_fn=broken)
    # a bad reward name is refused before any model loads
    with pytest.raises(ConfigError, match=r"config key 'reward_fn': cannot import module 'no_such_module'"):
        evaluate("tiny", task="chain_sum", size=2, reward_fn="no_such_module:fn")


def test_compare_takes_a_python_callable_reward(tmp_path):
    def local_half(completion, row):
        return 0.5

    # before #29: overrides={"reward_fn": <function>} became the string "<function ...>" (ConfigError)
    res = compare(["grpo"], output_dir=tmp_path / "cmp", task="chain_sum", model="tiny", steps=1,
                  overrides={k: v for k, v in SMALL.items() if k != "model"} | {"reward_fn": local_half},
                  eval_size=2, evaluate_base=False)
    [rec] = [json.loads(l) for l in (tmp_path / "cmp" / "grpo" / "metrics.jsonl").read_text().splitlines()]
    assert rec["reward"] == 0.5 and rec["reward/errors"] == 0  # the runs trained on the callable
    assert res["evals"]["grpo"]["sets"]["chain_sum"]["greedy_reward"] == 0.5
    assert "mean reward of the greedy answers under reward_fn" in Path(res["report"]["markdown"]).read_text()


# ------------------------------------------------------------------ item 2: column mapping everywhere


def test_eval_reads_own_columns_by_key_value_and_by_flag(tmp_path, capsys):
    data = own_data(tmp_path / "math.jsonl")
    base = ["eval", "--model", "tiny", "--data", str(data), "--max-new-tokens", "4"]
    # before #29: `unrecognized arguments: prompt_column=question`
    assert main([*base, "prompt_column=question", "answer_column=final", "--output-dir", str(tmp_path / "e1")]) == 0
    assert json.loads((tmp_path / "e1" / "eval.json").read_text())["sets"]["math"]["n"] == 4
    assert main([*base, "--prompt-column", "question", "--answer-column", "final",
                 "--output-dir", str(tmp_path / "e2")]) == 0
    capsys.readouterr()
    # without the mapping: the error names the fix
    assert main([*base, "--output-dir", str(tmp_path / "e3")]) == 2
    [line] = error_lines(capsys.readouterr().err)
    assert "field 'prompt': missing (the row has fields: question, final); if another column holds it, " \
           "pass prompt_column=NAME" in line
    # an unknown key and a key given twice are one line each
    assert main([*base, "promt_column=question", "--output-dir", str(tmp_path / "e4")]) == 2
    assert "unknown setting 'promt_column'" in capsys.readouterr().err
    assert main([*base, "--prompt-column", "q", "prompt_column=question", "--output-dir", str(tmp_path / "e5")]) == 2
    assert "prompt_column is given twice with different values ('q' and 'question')" in capsys.readouterr().err


def test_compare_reads_own_columns_in_eval_data(tmp_path, capsys):
    train_file, test_file = own_data(tmp_path / "train.jsonl", 4), own_data(tmp_path / "test.jsonl", 2)
    # before #29: `row 1: field 'prompt': missing` while reading eval_data
    argv = ["compare", "--methods", "grpo", "--model", "tiny", "--data", str(train_file), "--steps", "1",
            "--no-base", "--output-dir", str(tmp_path / "cmp"), "prompt_column=question", "answer_column=final",
            f"eval_data={test_file}", "--eval-data", str(test_file), "prompts_per_step=2", "group_size=2",
            "max_new_tokens=4", "progress=false"]
    assert main(argv) == 0, capsys.readouterr().err
    ev = json.loads((tmp_path / "cmp" / "evals" / "grpo.json").read_text())
    assert {s: v["n"] for s, v in ev["sets"].items()} == {"test": 2, "test'": 2}


# ------------------------------------------------------------------ item 3: eval of a run uses the run


@pytest.fixture(scope="module")
def own_run(tmp_path_factory):
    """A run trained on own columns with template=vanilla, 6 new tokens and a reward_fn."""
    d = tmp_path_factory.mktemp("own")
    data = own_data(d / "train.jsonl", 4)
    train(TrainConfig(**{**SMALL, "max_new_tokens": 6}, method="grpo", steps=1, data=str(data),
                      prompt_column="question", answer_column="final", template="vanilla",
                      reward_fn="scripted_rewards:even_length", output_dir=str(d / "run")))
    return d


def test_eval_of_a_run_takes_its_template_budget_reward_and_columns(own_run, tmp_path, capsys):
    run, test = own_run / "run", own_data(tmp_path / "test.jsonl", 2)
    for model in (run, run / "checkpoints" / "step-000001", run / "checkpoints" / "step-000001" / "model"):
        out = tmp_path / f"e-{len(model.parts)}"
        assert main(["eval", "--model", str(model), "--data", str(test), "--output-dir", str(out)]) == 0
        err = capsys.readouterr().err
        # before #29: template chat, max_new_tokens 256, `field 'prompt': missing`
        assert (f"eval: taken from {run}/config.yaml: template=vanilla, max_new_tokens=6, "
                f"reward_fn=scripted_rewards:even_length") in err
        assert "prompt_column=question, answer_column=final" in err
        st = json.loads((out / "eval.json").read_text())["settings"]
        assert (st["template"], st["max_new_tokens"], st["reward_fn"]) == ("vanilla", 6, "scripted_rewards:even_length")
    # flags override the run's settings
    assert main(["eval", "--model", str(run), "--data", str(test), "--template", "chat", "--max-new-tokens", "3",
                 "--output-dir", str(tmp_path / "e-flags")]) == 0
    st = json.loads((tmp_path / "e-flags" / "eval.json").read_text())["settings"]
    assert (st["template"], st["max_new_tokens"]) == ("chat", 3)
    # the Python API resolves alike
    res = evaluate(run, data=str(test))
    assert (res["settings"]["template"], res["settings"]["max_new_tokens"]) == ("vanilla", 6)


# ------------------------------------------------------------------ item 4: accuracy is not reward


def test_a_custom_reward_never_becomes_accuracy(tmp_path, capsys):
    def always_one(completion, row):
        return 1.0

    plain = evaluate("tiny", task="chain_sum", size=4, max_new_tokens=4)
    rewarded = evaluate("tiny", task="chain_sum", size=4, max_new_tokens=4, reward_fn=always_one)
    # before #29: greedy_accuracy 1.0 (the reward replaced the verifier)
    a, b = plain["sets"]["chain_sum"], rewarded["sets"]["chain_sum"]
    assert b["greedy_accuracy"] == a["greedy_accuracy"] < 1.0
    assert b["greedy_reward"] == 1.0 and "greedy_reward" not in a
    # the CLI says which is which
    assert main(["eval", "--model", "tiny", "--task", "chain_sum", "--size", "2", "--max-new-tokens", "4",
                 "--reward-fn", "scripted_rewards:even_length", "--output-dir", str(tmp_path / "e")]) == 0
    out, err = capsys.readouterr()
    assert "accuracy is the task verifier's; reward_fn=scripted_rewards:even_length is reported apart" in err
    assert "| mean reward (greedy) |" in out and "accuracy (the task verifier) in %" in out


# ------------------------------------------------------------------ item 5: kill -9 loses a bounded amount


def test_checkpoints_by_minutes_by_default(tmp_path):
    # before #29: save_every=0 and nothing else: kill -9 before the end lost the whole run
    assert TrainConfig().save_every_minutes == 10.0
    assert "save_every_minutes" in Path(__file__).parents[2].joinpath("README.md").read_text()
    out = tmp_path / "run"
    # ~0 minutes: every step is "late", so every step is checkpointed (keep_last=5 keeps them)
    train(TrainConfig(**SMALL, task="chain_sum", method="grpo", steps=3, save_every_minutes=1e-9, keep_last=5,
                      reward_fn="scripted_rewards:even_length", output_dir=str(out)))
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-000001", "step-000002", "step-000003"]
    with pytest.raises(ConfigError, match=r"config key 'save_every_minutes': must be >= 0"):
        TrainConfig(save_every_minutes=-1.0)
    saved = read_config(out)
    assert saved["save_every_minutes"] == 1e-9


# ------------------------------------------------------------------ items 6, 7, 9: no silent choices


def test_options_of_another_method_are_named(capsys):
    # before #29: hpt_gamma=5 with grpo and rl_preset=dapo with sft were accepted and ignored
    from hybridrl.config import build_config

    build_config(None, {"method": "grpo", "task": "chain_sum"}, ["hpt_gamma=5"])  # as `hybridrl train` prints it
    # one table of owners (methods/registry.py OPTION_OWNERS); auto reads hpt_ only as its sparse method
    assert "hybridrl: warning: hpt_gamma=5 is an option of hpt; method 'grpo' ignores it" in capsys.readouterr().err
    notes: list[str] = []
    build_config(None, {"method": "sft", "task": "chain_sum"}, ["rl_preset=dapo"], notes=notes)
    assert any("rl_preset=dapo is an option of" in n and "method 'sft' ignores it" in n for n in notes)
    notes.clear()
    build_config(None, {"method": "hpt", "task": "chain_sum"}, ["hpt_gamma=2"], notes=notes)
    assert not any("ignores it" in n for n in notes)


def test_trl_names_are_mapped_or_explained_in_one_line(capsys):
    # before #29: TrainConfig(num_generations=2) raised TypeError: unexpected keyword argument
    assert TrainConfig(num_generations=2).group_size == 2
    with pytest.raises(ConfigError, match=r"unknown config key 'group_sise' \(did you mean group_size\?\)"):
        TrainConfig(group_sise=2)
    with pytest.raises(ConfigError, match=r"config key 'lr' is given twice with different values"):
        TrainConfig(lr=1e-5, learning_rate=1e-3)
    for key, hint in [("gradient_accumulation_steps", "micro_batch_size"), ("use_vllm", "rollout_engine=vllm"),
                      ("scale_rewards", "dr_grpo"), ("loss_type", "loss_agg_mode"),
                      ("num_train_epochs", "steps=N")]:
        assert main(["train", "--model", "tiny", "--task", "chain_sum", f"{key}=1"]) == 2
        [line] = error_lines(capsys.readouterr().err)
        assert f"config key '{key}' (TRL) has no equivalent here:" in line and hint in line, line
    from hybridrl.config import build_config

    build_config(None, {"task": "chain_sum"}, ["per_device_train_batch_size=4"])
    assert ("'per_device_train_batch_size' read as 'micro_batch_size' (sequences per forward/backward pass; "
            "the batch itself is prompts_per_step x group_size completions") in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--steps", "2", "steps=1"], "config key 'steps' is given twice with different values (--steps 2 and steps=1)"),
    (["lr=1e-5", "learning_rate=1e-3"], "config key 'lr' is given twice with different values "
                                        "(lr=1e-5 and learning_rate=1e-3)"),
    (["--method", "grpo", "method=sft"], "config key 'method' is given twice with different values "
                                         "(--method grpo and method=sft)"),
    (["--data", "x.jsonl"], "both a task and data are given"),
])
def test_conflicting_values_are_refused(argv, message, capsys):
    # before #29: the last one won silently (steps=1, lr=1e-3, sft; the file trained, the task recorded)
    assert main(["train", "--model", "tiny", "--task", "chain_sum", *argv]) == 2
    [line] = error_lines(capsys.readouterr().err)
    assert message in line


# ------------------------------------------------------------------ items 10, 11, 14: checked before work


def test_checks_come_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    # before #29: a traceback after the run had started (report_to) / after the greedy pass (temperature 0)
    assert main(["train", "--model", "tiny", "--task", "chain_sum", "report_to=tensorboard", "--output-dir", "r"]) == 2
    [line] = error_lines(capsys.readouterr().err)
    assert "config key 'report_to': tensorboard is not installed: pip install 'hybridrl[logging]'" in line
    assert not Path("r").exists()
    for argv, msg in [(["--temperature", "0", "--samples", "2"], "--temperature 0.0: sampled answers (--samples 2) "
                                                                 "need a temperature > 0"),
                      (["--samples", "-1"], "--samples -1: must be >= 0"), (["--size", "0"], "--size 0: must be >= 1")]:
        assert main(["eval", "--model", "tiny", "--task", "chain_sum", *argv]) == 2
        [line] = error_lines(capsys.readouterr().err)
        assert msg in line
    assert not Path("runs").exists()  # no eval folder either
    # an eval folder that holds an evaluation is refused before anything is generated
    Path("e").mkdir()
    Path("e/eval.json").write_text("{}")
    assert main(["eval", "--model", "tiny", "--task", "chain_sum", "--output-dir", "e"]) == 2
    out = capsys.readouterr()
    assert "e already holds an evaluation" in out.err and "eval tiny" not in out.err  # no progress bar: no work


def test_data_never_replaces_a_file(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    Path("train.jsonl").write_text('{"prompt": "mine", "answer": "1"}\n')
    # before #29: silently replaced by 8 generated rows
    assert main(["data", "--task", "chain_sum", "--size", "8", "--out", "train.jsonl"]) == 2
    assert "--out train.jsonl already exists; use another file name or --overwrite" in capsys.readouterr().err
    assert Path("train.jsonl").read_text() == '{"prompt": "mine", "answer": "1"}\n'
    assert main(["data", "--task", "chain_sum", "--size", "8", "--out", "train.jsonl", "--overwrite"]) == 0
    assert len(Path("train.jsonl").read_text().splitlines()) == 8


def test_data_parquet_with_nested_metadata_round_trips(tmp_path):
    # before #29: `data --help`'s own example failed: "rows do not fit one parquet schema"
    from hybridrl.data.loading import load_rows
    from hybridrl.data.tasks import build_task

    out = tmp_path / "kk.parquet"
    assert main(["data", "--task", "knights_knaves", "--difficulty", "2", "--split", "test", "--size", "8",
                 "--out", str(out)]) == 0
    rows, _ = load_rows(out, verify_demos=False)
    assert rows == build_task("knights_knaves", size=8, seed=0, difficulty="2", split="test")


def test_recipes_by_name_from_any_folder(tmp_path, monkeypatch, capsys):
    from hybridrl.config import build_config

    monkeypatch.chdir(tmp_path)
    # before #29: `--config recipes/superrl.yaml` from another folder -> "config file not found"
    for name in ("superrl", "superrl.yaml", "recipes/superrl.yaml"):
        assert build_config(name, {}, ["steps=2"]).method == "superrl"
    assert main(["train", "--config", "superrl_typo"]) == 2
    [line] = error_lines(capsys.readouterr().err)
    assert "config file not found: superrl_typo; recipes are in" in line and "e.g. --config superrl" in line


def test_prompts_longer_than_the_context_are_refused_before_training(tmp_path, capsys):
    # before #29 (item 8): an 8,099-token prompt trained silently on a model of 4,096 positions
    data = tmp_path / "long.jsonl"
    rows = [{"prompt": f"What is {i} + 1?", "answer": str(i + 1)} for i in range(3)]
    rows.append({"prompt": "x" * 5000 + " What is 1 + 1?", "answer": "2", "id": "the-long-one"})
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    base = ["train", "--model", "tiny", "--data", str(data), "--steps", "1", "prompts_per_step=2", "group_size=2",
            "max_new_tokens=4", "progress=false", "reward_fn=scripted_rewards:even_length"]
    # the tiny model has 4,096 positions: 4,096 - 4 new tokens is the default limit (one character, one token)
    assert main([*base, "--output-dir", str(tmp_path / "a")]) == 2
    [line] = error_lines(capsys.readouterr().err)
    assert ("1 of 4 prompts are longer than 4092 tokens (the model's context minus max_new_tokens=4); the longest, "
            "id the-long-one, has") in line
    assert not (tmp_path / "a").exists()  # nothing trained, no run folder left
    assert main([*base, "max_prompt_length=20", "--output-dir", str(tmp_path / "b")]) == 2
    assert "prompts are longer than 20 tokens (max_prompt_length)" in capsys.readouterr().err
    # under the limit: trains, and the data summary says how long the longest prompt was
    data.write_text("".join(json.dumps(r) + "\n" for r in rows[:3]))
    assert main([*base, "--output-dir", str(tmp_path / "c")]) == 0
    summary = json.loads((tmp_path / "c" / "summary.json").read_text())
    assert summary["data"]["prompts_over_max_prompt_length"] == 0 and summary["data"]["prompt_tokens_max"] > 10


# ------------------------------------------------------------------ item 15 and the cosmetic list


def test_item_15_and_cosmetics(tmp_path, monkeypatch, capsys):
    from hybridrl.schema import Row
    from hybridrl.pipelines.compare import compare_overrides
    from hybridrl.rewards.verifiers import UserReward

    monkeypatch.chdir(tmp_path)
    # compare --eval-size reaches the evaluations along the way (they stayed 64)
    assert "eval_size=8" in compare_overrides(["eval_every=2"], {"steps": 4}, None, 8)
    # the row a reward function gets reads like the file's columns (row.get failed)
    row = Row("q", ["1"], id="r1", metadata={"source": "mine"})
    assert (row.get("answer"), row.get("source"), row["id"], row.get("nope", 0)) == (["1"], "mine", "r1", 0)
    # a reward returning True / False is 1.0 / 0.0 (it was refused)
    res = UserReward("scripted_rewards:returns_true").score("x", row)
    assert (res.score, res.correct, res.error) == (1.0, True, None)
    # a run is never written inside another run's folder
    Path("runs/same").mkdir(parents=True)
    Path("runs/same/config.yaml").write_text("method: grpo\n")
    Path("runs/same/metrics.jsonl").write_text("")
    assert main(["train", "--model", "tiny", "--task", "chain_sum", "--output-dir", "runs/same/checkpoints/x"]) == 2
    assert "--output-dir runs/same/checkpoints/x is inside the run in" in capsys.readouterr().err
    # errors that name the fix
    assert main(["eval", "--model", "runs/nope", "--task", "chain_sum"]) == 2
    [line] = error_lines(capsys.readouterr().err)
    assert "model folder 'runs/nope' does not exist" in line and "hub" not in line.lower()
    assert main(["train", "--model", "tiny", "--task", "chain_sum", "--method", "dapo"]) == 2
    assert "'dapo' is an RL loss preset, not a method: use method=grpo rl_preset=dapo" in capsys.readouterr().err
    data = own_data(tmp_path / "nodemo.jsonl")
    assert main(["train", "--model", "tiny", "--method", "luffy", "--data", str(data), "prompt_column=question",
                 "answer_column=final", "prompts_per_step=2", "group_size=2"]) == 2
    assert "pass demonstration_column=NAME" in capsys.readouterr().err
    # hybridrl --version
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.startswith("hybridrl ")


def test_a_datasets_folder_with_a_test_split_is_the_eval_set(tmp_path, capsys):
    # #29 item 15: a folder with a test split still printed "no eval set"
    import datasets

    def split(n):
        return datasets.Dataset.from_list([{"question": f"What is {i} + 1?", "final": str(i + 1)} for i in range(n)])

    datasets.DatasetDict({"train": split(4), "test": split(3)}).save_to_disk(str(tmp_path / "ds"))
    assert main(["train", "--model", "tiny", "--data", str(tmp_path / "ds"), "--steps", "1", "prompt_column=question",
                 "answer_column=final", "prompts_per_step=2", "group_size=2", "max_new_tokens=4", "progress=false",
                 "reward_fn=scripted_rewards:even_length", "--output-dir", str(tmp_path / "run")]) == 0
    assert f"eval set: the test split of {tmp_path / 'ds'}" in capsys.readouterr().err
    [ev] = [json.loads(l) for l in (tmp_path / "run" / "eval.jsonl").read_text().splitlines()]
    assert ev["n"] == 3
    # and `eval --data FOLDER` reads its test split too
    assert main(["eval", "--model", "tiny", "--data", str(tmp_path / "ds"), "prompt_column=question",
                 "answer_column=final", "--max-new-tokens", "2", "--output-dir", str(tmp_path / "e")]) == 0
    assert json.loads((tmp_path / "e" / "eval.json").read_text())["sets"]["ds"]["n"] == 3


def test_resume_never_mixes_two_eval_sets(tmp_path, capsys):
    # #29 item 15: a resume with another eval_size wrote n=2 and n=4 rows into one eval.jsonl
    out = tmp_path / "run"
    train(TrainConfig(**SMALL, task="chain_sum", method="grpo", steps=1, eval_every=1,
                      reward_fn="scripted_rewards:even_length", output_dir=str(out)))
    with pytest.raises(ConfigError, match=r"eval_size 2 -> 4 would mix two question sets in .*eval.jsonl"):
        train(resume=out, steps=2, eval_size=4)
    train(resume=out, steps=2)
    assert {json.loads(l)["n"] for l in (out / "eval.jsonl").read_text().splitlines()} == {2}


def test_list_keys_wraps_aligns_and_explains_one_key(capsys):
    # #29 cosmetics: docs were cut mid-sentence ("..."), long keys misaligned, a key argument ignored
    assert main(["train", "--list-keys"]) == 0
    out = capsys.readouterr().out
    # key rows (not their wrapped lines, nor the "# section: ..." headings)
    rows = [l for l in out.split("\n\naliases")[0].splitlines() if l and not l.startswith((" ", "#"))]
    assert "code ``on_solve_num <= switch_gate``)" in out  # hpt_gamma's sentence in full (was cut at 87 chars)
    start = next(r for r in rows if r.startswith("hpt_gamma ")).index("Switch gate")  # hpt_gamma's doc
    # every doc starts in the same column (token_truncate, a long default, pushed its doc right)
    assert all(l[start - 1] == " " and l[start] != " " for l in rows if len(l) > start), start
    assert main(["train", "--list-keys", "hpt_balance", "learning_rate"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("hpt_balance (str, default 'question')") and "``official``" in out and "lr (float" in out


def test_figures_distinguish_identical_curves_and_use_integer_steps(tmp_path):
    # #29 cosmetics: two identical curves showed as one line; 0.5-step ticks; raw keys as labels; pass@k a fraction
    import matplotlib

    matplotlib.use("Agg", force=True)
    from hybridrl.report import plots

    same = [{"step": s, "reward": 0.5, "completions/mean_length": 4.0, "entropy": 1.0} for s in (1, 2, 3)]
    runs = {"a": {"metrics": same, "eval": []}, "b": {"metrics": same, "eval": []}}
    captured = {}
    real_save = plots._save
    plots._save = lambda fig, path: captured.setdefault(path.name, fig) and real_save(fig, path)
    try:
        plots.plot_reward(runs, tmp_path / "reward.png")
        plots.plot_entropy_length(runs, tmp_path / "el.png")
        plots.plot_pass_at_k({"m": {"sets": {"s": {"pass_curve": {"1": 0.25, "2": 0.5}}}}}, tmp_path / "pk.png")
    finally:
        plots._save = real_save
    ax = captured["reward.png"].axes[0]
    assert len({l.get_linestyle() for l in ax.lines if l.get_label() in ("a", "b")}) == 2
    assert all(float(t).is_integer() for t in ax.get_xticks())
    assert [a.get_ylabel() for a in captured["el.png"].axes] == ["entropy (nats per token)",
                                                                 "mean completion length (tokens)"]
    pk = captured["pk.png"].axes[0]
    assert pk.get_ylabel() == "pass@k (%)" and list(pk.lines[0].get_ydata()) == [25.0, 50.0]
