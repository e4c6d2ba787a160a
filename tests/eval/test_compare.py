"""compare and eval end to end on the tiny model (a few seconds each)."""

import json

from hybridrl.cli import main

TINY = ["train_size=8", "prompts_per_step=2", "group_size=2", "max_new_tokens=6", "micro_batch_size=4",
        "progress=false"]


def _compare(out, capsys):
    rc = main(["compare", "--methods", "grpo,hpt", "--task", "chain_sum", "--model", "tiny", "--steps", "1",
               "--output-dir", str(out), "--eval-size", "3", *TINY])
    assert rc == 0
    return capsys.readouterr().out


def test_compare_trains_evaluates_reports_and_skips_finished_runs(tmp_path, capsys):
    out = tmp_path / "cmp"
    first = _compare(out, capsys)
    for m in ("grpo", "hpt"):
        assert (out / m / "summary.json").exists()
        assert (out / "evals" / f"{m}.json").exists()
    assert (out / "evals" / "base.json").exists()
    assert (out / "report.md").exists() and (out / "report.html").exists()
    assert "| base |" in first and "| hpt |" in first and "report:" in first
    md = (out / "report.md").read_text()
    assert "| grpo | 1 |" in md  # training table: one step logged
    mtimes = {m: (out / m / "metrics.jsonl").stat().st_mtime_ns for m in ("grpo", "hpt")}
    ev_mtime = (out / "evals" / "hpt.json").stat().st_mtime_ns

    second = _compare(out, capsys)
    assert "grpo: finished run found" in second and "hpt: finished run found" in second
    assert "not retrained" in second and "evaluation found" in second
    assert {m: (out / m / "metrics.jsonl").stat().st_mtime_ns for m in ("grpo", "hpt")} == mtimes
    assert (out / "evals" / "hpt.json").stat().st_mtime_ns == ev_mtime


def test_compare_refuses_a_finished_run_with_other_settings(tmp_path, capsys):
    out = tmp_path / "cmp"
    assert main(["compare", "--methods", "grpo", "--task", "chain_sum", "--model", "tiny", "--steps", "1",
                 "--output-dir", str(out), "--eval-size", "2", "--no-base", *TINY]) == 0
    capsys.readouterr()
    rc = main(["compare", "--methods", "grpo", "--task", "chain_sum", "--model", "tiny", "--steps", "2",
               "--output-dir", str(out), "--eval-size", "2", "--no-base", *TINY])
    assert rc == 2
    assert "other settings" in capsys.readouterr().err


def test_compare_reuses_a_finished_run_when_only_resume_safe_keys_differ(tmp_path, capsys):
    """The keys compare tolerates are train --resume's SAFE_RESUME_KEYS (one list): a
    micro-batch size or save cadence change keeps the finished run; steps do not (test above)."""
    from hybridrl.pipelines.compare import ignored_keys
    from hybridrl.config import SAFE_RESUME_KEYS

    assert ignored_keys() == (SAFE_RESUME_KEYS - {"steps"}) | {"output_dir"}
    out = tmp_path / "cmp"
    args = ["compare", "--methods", "grpo", "--task", "chain_sum", "--model", "tiny", "--steps", "1",
            "--output-dir", str(out), "--eval-size", "2", "--no-base", *TINY]
    assert main(args) == 0
    capsys.readouterr()
    # (the first call's micro_batch_size is left out: one key given twice is refused since #29)
    assert main([a for a in args if not a.startswith("micro_batch_size=")] + ["micro_batch_size=2", "save_every=7"]) == 0
    assert "grpo: finished run found" in capsys.readouterr().out


def test_compare_reuses_runs_written_before_the_fidelity_fix_where_the_method_is_unchanged(tmp_path, capsys):
    """A run folder written before hpt_balance=question, the PPO critic keys and sasr_sft_loss:
    its config.yaml has gae_lambda 0.95, cliprange_value 0.2, hpt_balance 'paper' and none of
    critic_lr / critic_detach / sasr_sft_loss. A GRPO run reads none of them, so it is reused (its
    rollout_engine 'hf' is what today's default 'auto' picks where vLLM is not installed); an
    HPT run trained with 'paper' (today's term_mean) is another run than today's default."""
    import yaml

    from hybridrl.report.runs import read_config

    out = tmp_path / "cmp"
    args = ["compare", "--methods", "grpo,hpt", "--task", "chain_sum", "--model", "tiny", "--steps", "1",
            "--output-dir", str(out), "--eval-size", "2", "--no-base", *TINY]
    assert main(args) == 0
    capsys.readouterr()
    for m in ("grpo", "hpt"):
        p = out / m / "config.yaml"
        cfg = read_config(out / m)  # flat, as run folders of that time hold it
        for k in ("critic_lr", "critic_detach", "sasr_sft_loss", "rollout_dtype"):
            cfg.pop(k)  # keys added since (rollout_dtype's default fp32 is the old behaviour)
        cfg.update(gae_lambda=0.95, cliprange_value=0.2, hpt_balance="paper", rollout_engine="hf")
        p.write_text(yaml.safe_dump(cfg, sort_keys=False))
    assert main(args[:2] + ["grpo"] + args[3:]) == 0
    assert "grpo: finished run found" in capsys.readouterr().out
    assert main(args[:2] + ["hpt"] + args[3:]) == 2
    assert "hpt_balance: 'paper' -> 'question'" in capsys.readouterr().err
    # the old HPT run is reused when asked for what it was trained with
    assert main(args[:2] + ["hpt"] + args[3:] + ["hpt_balance=paper"]) == 0
    assert "hpt: finished run found" in capsys.readouterr().out


def test_unused_keys_are_other_methods_options_and_critic_keys_without_a_critic():
    from hybridrl.methods.registry import unused_keys
    from hybridrl.config import LEGACY_DEFAULTS, TrainConfig, config_to_dict, with_legacy_defaults

    d = config_to_dict(TrainConfig(method="grpo"))
    u = unused_keys(d)
    assert {"hpt_balance", "sasr_sft_loss", "superrl_k", "loss_weight_lr", "gae_lambda", "critic_lr"} <= u
    assert not {"lr", "group_size", "rl_preset", "beta", "entropy_coef"} & u
    assert "hpt_balance" not in unused_keys({**d, "method": "hpt"})
    assert "gae_lambda" not in unused_keys({**d, "method": "ppo"})
    assert "gae_lambda" not in unused_keys({**d, "method": "superrl", "rl_preset": "ppo"})
    # auto reads the probe's superrl_ keys and its sparse method's options
    a = unused_keys({**d, "method": "auto", "auto_sparse_method": "sasr"})
    assert "superrl_k" not in a and "sasr_gamma" not in a and "hpt_gamma" in a
    # an old config.yaml gets the values its run had; a new one keeps its own
    assert with_legacy_defaults({"method": "sasr"})["sasr_sft_loss"] == "mean"
    assert with_legacy_defaults({"method": "sasr", "sasr_sft_loss": "sum"})["sasr_sft_loss"] == "sum"
    assert set(LEGACY_DEFAULTS) == {"sasr_sft_loss", "critic_detach", "critic_lr"}


def test_sigterm_during_a_compare_run_saves_a_checkpoint_and_the_same_command_resumes(tmp_path, capsys,
                                                                                     monkeypatch):
    """compare trains under the same interrupt guard as `hybridrl train`. Before: compare called the
    loop without it, so SIGTERM (a `kill`, a scheduler's stop) ended the process at once and the
    run lost every step since its last periodic checkpoint (here: all of them, save_every=0)."""
    import os
    import signal

    from hybridrl.training.persistence import checkpoint as ckpt
    from hybridrl.training.loop.trainer import Trainer

    real, calls = Trainer._run_update, []

    def sigterm_in_step_2(self, *a, **k):
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGTERM)  # handled at once (main thread): step 2 finishes, then stop
        return real(self, *a, **k)

    class Unguarded(Exception):
        pass

    def unguarded(signum, frame):  # reached only if compare trains without the guard
        raise Unguarded("SIGTERM reached the default handler: the run would have died without a checkpoint")

    previous = signal.signal(signal.SIGTERM, unguarded)  # instead of killing pytest
    out = tmp_path / "cmp"
    args = ["compare", "--methods", "grpo", "--task", "chain_sum", "--model", "tiny", "--steps", "3",
            "--output-dir", str(out), "--eval-size", "2", "--no-base", *TINY, "save_every=0"]
    monkeypatch.setattr(Trainer, "_run_update", sigterm_in_step_2)
    try:
        rc = main(args)
    finally:
        after = signal.signal(signal.SIGTERM, previous)
    assert after is unguarded  # the guard put the handler back
    assert rc == 130
    err = capsys.readouterr().err
    assert "interrupted (SIGTERM) after 2 steps" in err and "Traceback" not in err
    assert "resume with: the same hybridrl compare command" in err
    assert ckpt.latest_checkpoint(out / "grpo").name == "step-000002"
    assert not (out / "evals" / "grpo.json").exists()
    monkeypatch.setattr(Trainer, "_run_update", real)
    assert main(args) == 0
    assert "grpo: resuming from" in capsys.readouterr().out
    steps = [json.loads(line)["step"] for line in (out / "grpo" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3] and (out / "evals" / "grpo.json").exists()


def test_compare_resumes_a_half_finished_run(tmp_path, capsys):
    from hybridrl.config import build_config
    from hybridrl.training.loop.trainer import train

    out = tmp_path / "cmp"
    # a 2-step run that checkpointed after step 1 and then "crashed" (no summary.json); the
    # crash is staged by deleting the last checkpoint, so the older one must keep the optimizer
    overrides = TINY + ["eval_size=0", "save_every=1", "keep_last=2", "keep_optimizer=all"]
    cfg = build_config(None, {"method": "grpo", "model": "tiny", "task": "chain_sum", "steps": 2,
                              "output_dir": str(out / "grpo")}, overrides)
    train(cfg)
    (out / "grpo" / "summary.json").unlink()
    import shutil

    shutil.rmtree(out / "grpo" / "checkpoints" / "step-000002")
    assert main(["compare", "--methods", "grpo", "--task", "chain_sum", "--model", "tiny", "--steps", "2",
                 "--output-dir", str(out), "--eval-size", "2", "--no-base", *TINY, "save_every=1", "keep_last=2",
                 "keep_optimizer=all"]) == 0
    text = capsys.readouterr().out
    assert "grpo: resuming from" in text and "step-000001" in text
    steps = [json.loads(l)["step"] for l in (out / "grpo" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2]  # steps completed (#14)


def test_eval_cli_writes_json_and_markdown_with_exclusive_solves(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    common = ["--model", "tiny", "--task", "chain_sum,knights_knaves:1", "--size", "3", "--max-new-tokens", "6",
              "--samples", "2", "--k", "1,2"]
    assert main(["eval", *common, "--output-dir", str(a)]) == 0
    assert main(["eval", *common, "--output-dir", str(b), "--label", "again", "--compare-to", str(a / "eval.json")]) == 0
    text = capsys.readouterr().out
    res = json.loads((b / "eval.json").read_text())
    assert set(res["sets"]) == {"chain_sum", "knights_knaves:1"}
    assert res["sets"]["knights_knaves:1"]["n"] == 3 and "pass@2" in res["sets"]["chain_sum"]
    assert "avg@2" in (b / "eval.md").read_text()
    # the same model twice: nothing is solved by one and not the other
    assert "again vs tiny" in text and "+0 / −0" in text


def test_eval_sets_can_be_fixed_across_training_seeds_and_sized_per_extra_task():
    from hybridrl.pipelines.compare import default_eval_sets
    from hybridrl.config import build_config

    def sets(seed, **kw):
        cfg = build_config(None, {"model": "tiny", "task": "chain_sum", "seed": seed, "method": "grpo"})
        return default_eval_sets(cfg, 20, "basic_arithmetic:1", None, **kw)

    text = lambda s: {k: [r.prompt for r in v] for k, v in s.items()}  # noqa: E731
    a, b = sets(0, eval_seed=7, eval_task_size=5), sets(1, eval_seed=7, eval_task_size=5)
    assert text(a) == text(b)  # same test questions whatever the training seed
    assert [len(v) for v in a.values()] == [20, 5]  # the training task's set, then the extra task
    assert text(sets(0)) != text(sets(1))  # without eval_seed the training seed draws them


def test_cached_eval_is_redone_when_the_questions_differ_under_the_same_ids(tmp_path, monkeypatch):
    """Built-in ids are positions (chain_sum-test-0, ...): another seed gives other questions
    under the same ids, and the cache must not hand back the old scores."""
    import hybridrl.pipelines.compare as comp
    from hybridrl.data.tasks import build_task
    from hybridrl.eval.evaluate import EvalSettings

    calls = []

    def fake_eval(model, sets, settings, label, model_seed=0):
        calls.append(label)
        return {"model": str(model), "settings": json.loads(json.dumps(comp.asdict(settings))),
                "sets": {k: {"rows": [{"id": r.id} for r in v]} for k, v in sets.items()}}

    monkeypatch.setattr(comp, "evaluate_model", fake_eval)
    s0 = {"cs": build_task("chain_sum", size=4, seed=0, split="test")}
    s1 = {"cs": build_task("chain_sum", size=4, seed=1, split="test")}
    assert [r.id for r in s0["cs"]] == [r.id for r in s1["cs"]] and s0 != s1
    quiet = lambda msg: None  # noqa: E731
    comp.evaluate_cached("base", "m", s0, EvalSettings(), tmp_path, quiet)
    comp.evaluate_cached("base", "m", s0, EvalSettings(), tmp_path, quiet)  # same questions: cached
    assert calls == ["base"]
    comp.evaluate_cached("base", "m", s1, EvalSettings(), tmp_path, quiet)  # other questions: redone
    assert calls == ["base", "base"]


def test_compare_defaults_yield_to_the_config_file_and_to_overrides(tmp_path):
    """compare's defaults (no in-loop eval, a checkpoint every quarter, keep 1) apply only to
    keys the user did not set: a --config file's eval_every / save_steps (TRL's name) win, as
    key=value overrides do. (Study v2 lost its learning curves to this: the YAML's eval_every
    was silently replaced by eval_size=0.)"""
    from hybridrl.pipelines.compare import compare_overrides

    cfg = tmp_path / "c.yaml"
    cfg.write_text("eval_every: 10\neval_size: 100\nsave_steps: 5\n")
    # nothing set: all three defaults, save_every = 40 steps // 4 = 10
    assert compare_overrides([], {"steps": 40}) == ["eval_size=0", "save_every=10", "keep_last=1"]
    # the file sets eval_*, save_steps (-> save_every): only keep_last is added
    assert compare_overrides([], {"steps": 40}, cfg) == ["keep_last=1"]
    # an override spelled with dashes / TRL's alias counts as set
    assert compare_overrides(["save-steps=3", "keep_last=2"], {"steps": 40}) == ["save-steps=3", "keep_last=2",
                                                                               "eval_size=0"]
