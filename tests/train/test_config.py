import dataclasses

import pytest

from hybridrl.config import ConfigError, TrainConfig, build_config


def test_precedence_yaml_cli_overrides(tmp_path):
    y = tmp_path / "c.yaml"
    y.write_text("method: hpt\ntask: chain_sum\nlr: 0.001\ngroup_size: 4\n")
    cfg = build_config(y, {"lr": 0.01}, ["group_size=6", "beta=0.001"])
    assert cfg.method == "hpt"          # from YAML
    assert cfg.lr == 0.01               # CLI beats YAML
    assert cfg.group_size == 6          # key=value beats both, coerced to int
    assert cfg.beta == pytest.approx(0.001)


def test_unknown_key_is_named_with_suggestion(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown config key 'grop_size'.*group_size"):
        build_config(None, {"task": "chain_sum"}, ["grop_size=4"])
    y = tmp_path / "c.yaml"
    y.write_text("task: chain_sum\nlearnin_rate: 1\n")
    # the typo of a TRL alias points to our key
    with pytest.raises(ConfigError, match=r"c.yaml: unknown config key 'learnin_rate' \(did you mean lr"):
        build_config(y)


@pytest.mark.parametrize("item, msg", [
    ("steps=ten", r"'steps': expected an integer, got 'ten'"),
    ("lr=fast", r"'lr': expected a number"),
    ("bf16=maybe", r"'bf16': expected true/false"),
    ("beta=-1", r"'beta': must be >= 0, got -1.0"),
    ("top_p=1.5", r"'top_p': must be in \(0, 1\], got 1.5"),
    ("top_p=0", r"'top_p': must be in \(0, 1\]"),
    ("lr=0", r"'lr': must be > 0"),
    ("eps_low=-0.2", r"'eps_low': must be > 0"),
    ("dual_clip_c=0.5", r"'dual_clip_c': must be > 1"),
    ("gae_lambda=1.5", r"'gae_lambda': must be in \[0, 1\]"),
    ("min_new_tokens=300", r"'min_new_tokens': must be <= max_new_tokens \(256\)"),
    ("keep_last=0", r"'keep_last': must be >= 1"),
    ("reward_timeout=0", r"'reward_timeout': must be > 0"),
    ("task=chainsum", r"'task': unknown task 'chainsum' \(did you mean chain_sum\?\)"),
    ("difficulty=7", r"'difficulty': task 'chain_sum': difficulty must be one of \[1, 2, 3\]"),
    ("model=smolm2-135m", r"'model': unknown model 'smolm2-135m' \(did you mean smollm2-135m\?\)"),
    ("method=grp", r"'method': unknown method 'grp' \(did you mean grpo\?\)"),
    ("steps=0", r"'steps': must be >= 1"),
    ("template=jinja", r"'template': unknown template 'jinja'"),
    ("method=nope", r"'method': unknown method 'nope'"),
    ("rl_preset=nope", r"'rl_preset': unknown preset"),
])
def test_bad_values_name_the_key(item, msg):
    # the task comes from --task unless the item sets it (#29: one key given twice is refused)
    with pytest.raises(ConfigError, match=msg):
        build_config(None, {} if item.startswith("task=") else {"task": "chain_sum"}, [item])


def test_impossible_combinations():
    # GRPO normalises within a group: one completion per prompt makes every advantage 0
    with pytest.raises(ConfigError, match=r"'group_size'.*group_size >= 2"):
        build_config(None, {"task": "chain_sum", "method": "grpo"}, ["group_size=1"])
    with pytest.raises(ConfigError, match="'task' or 'data'"):
        build_config(None, {"method": "grpo"})
    # SFT needs no group
    assert build_config(None, {"task": "chain_sum", "method": "sft"}, ["group_size=1"]).group_size == 1


def test_method_name_fixes_variant():
    cfg = build_config(None, {"task": "chain_sum", "method": "superrl_theta"})
    assert cfg.superrl_variant == "theta"
    assert build_config(None, {"task": "chain_sum", "method": "superrl_per_step"}).superrl_variant == "per_step"


def test_none_values_and_every_field_documented():
    cfg = build_config(None, {"task": "chain_sum"}, ["eps_high=none", "eval_max_new_tokens=64"])
    assert cfg.eps_high is None and cfg.eval_max_new_tokens == 64
    # every field is declared, with its docstring, in the source of its one section
    import inspect

    from hybridrl.config import KEYS, SECTIONS

    for name in ("group_size", "prompts_per_step", "micro_batch_size", "beta", "old_logprobs"):
        assert f"    {name}:" in inspect.getsource(SECTIONS[KEYS[name]])
    assert isinstance(TrainConfig(), TrainConfig)


# --- issue 14 -----------------------------------------------------------------------------


def test_explicit_value_wins_over_the_method_preset(capsys):
    # before: method=superrl forced superrl_variant=logsigma over the user's theta
    cfg = build_config(None, {"task": "chain_sum", "method": "superrl"}, ["superrl_variant=theta"])
    assert cfg.superrl_variant == "theta"
    assert "superrl_variant=theta was set explicitly" in capsys.readouterr().err
    # without an explicit value the method name still fixes it
    assert build_config(None, {"task": "chain_sum", "method": "superrl_theta"}).superrl_variant == "theta"
    # and the saved config shows what ran
    from hybridrl.config import config_to_dict

    assert config_to_dict(cfg)["superrl_variant"] == "theta"


@pytest.mark.parametrize("alias, key, value, expected", [
    ("num_generations", "group_size", "4", 4),
    ("learning_rate", "lr", "1e-5", 1e-5),
    ("max_completion_length", "max_new_tokens", "64", 64),
    ("per_device_train_batch_size", "micro_batch_size", "2", 2),
    ("max_steps", "steps", "7", 7),
    ("kl_coef", "beta", "0.001", 0.001),
])
def test_trl_and_verl_spellings_are_aliases(alias, key, value, expected, capsys):
    cfg = build_config(None, {"task": "chain_sum"}, [f"{alias}={value}"])
    assert getattr(cfg, key) == pytest.approx(expected)
    assert f"'{alias}' read as '{key}'" in capsys.readouterr().err
    from hybridrl.config import config_to_dict

    assert alias not in config_to_dict(cfg)  # saved under our name only


def test_schedules_that_cannot_take_effect_are_warned_about(capsys):
    # SuperRL's probe is 50 steps at 8 prompts per step (SuperRL §3.3): a 3-step run never decides
    build_config(None, {"task": "chain_sum", "method": "superrl", "steps": 3})
    err = capsys.readouterr().err
    assert "hybridrl: warning: method 'superrl': the Adaptive Switch probes for 50 pure-RL steps but the run has 3" in err
    # SASR's warm-up of 10 >= 5 steps: the whole run is SFT
    build_config(None, {"task": "chain_sum", "method": "sasr", "steps": 5})
    assert "sasr_warmup_steps=10 >= steps=5" in capsys.readouterr().err
    # static hybrid: 2 SFT epochs x ceil(1000 train rows / 8 prompts) = 2 x 125 = 250 steps >= 10
    build_config(None, {"task": "chain_sum", "method": "static_hybrid", "steps": 10})
    assert "its SFT phase (2 epochs = 250 steps) covers the whole 10-step run" in capsys.readouterr().err
    # a probe shorter than the run: no warning
    build_config(None, {"task": "chain_sum", "method": "superrl", "steps": 3}, ["superrl_k=2"])
    assert "warning" not in capsys.readouterr().err


def test_bf16_auto_resolves_to_what_runs():
    from hybridrl.config import config_to_dict, native_bf16

    # the /proc/cpuinfo flags decide on a CPU: AVX-512 BF16 or AMX -> native, AVX2 only -> not
    assert native_bf16("flags : fpu avx2 avx512f avx512_bf16") is True
    assert native_bf16("flags : fpu avx2 amx_bf16 amx_tile") is True
    assert native_bf16("flags : fpu sse avx avx2") is False
    cfg = build_config(None, {"task": "chain_sum"})
    assert cfg.bf16 in (True, False) and config_to_dict(cfg)["bf16"] == native_bf16()
    assert build_config(None, {"task": "chain_sum"}, ["bf16=true"]).bf16 is True
    assert TrainConfig.bf16 == "auto"  # the default, resolved when a config is built


def test_python_construction_is_checked_like_the_cli():
    with pytest.raises(ConfigError, match=r"config key 'steps': expected int, got '2' \(str\)"):
        TrainConfig(steps="2")
    with pytest.raises(ConfigError, match=r"'top_p': must be in \(0, 1\]"):
        TrainConfig(task="chain_sum", top_p=1.5)
    assert TrainConfig(lr=1).lr == 1.0  # an int where a float goes is fine


def test_default_output_dir_is_fresh_per_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    a = TrainConfig(method="hpt").output_dir
    assert a.startswith("runs/hpt-")
    (tmp_path / a).mkdir(parents=True)
    b = TrainConfig(method="hpt").output_dir  # same second: a suffix, never the same folder
    assert b != a


def test_reward_fn_is_imported_and_checked_before_the_model_loads(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "myrewards.py").write_text("def one_arg(completion):\n    return 1.0\n"
                                           "def ok(completion, row):\n    return 1.0\n")
    base = {"task": "chain_sum"}
    with pytest.raises(ConfigError, match=r"'reward_fn': cannot import module 'nomod'"):
        build_config(None, base, ["reward_fn=nomod:f"])
    with pytest.raises(ConfigError, match=r"'reward_fn': module 'myrewards' has no function 'nosuch'"):
        build_config(None, base, ["reward_fn=myrewards:nosuch"])
    with pytest.raises(ConfigError, match=r"'reward_fn': myrewards:one_arg must accept \(completion, row\)"):
        build_config(None, base, ["reward_fn=myrewards:one_arg"])
    assert build_config(None, base, ["reward_fn=myrewards:ok"]).reward_fn == "myrewards:ok"


def test_every_field_is_documented():
    """Parse the source: every field of every config section (the general ones and each method's
    options dataclass) must be followed by a string expression (its docstring). Fails for a
    field added without one."""
    from hybridrl.config import SECTIONS
    from hybridrl.config.keys import class_field_docs

    missing = [f"{cls.__name__}.{name}" for cls in SECTIONS.values()
               for name, doc in class_field_docs(cls).items() if not doc.strip()]
    assert missing == [], f"fields without a docstring: {missing}"
    assert all(set(class_field_docs(cls)) == {f.name for f in dataclasses.fields(cls)} for cls in SECTIONS.values())
    from hybridrl.config import KEYS, describe_keys, field_docs

    docs = field_docs()
    assert set(docs) == set(KEYS)
    listing = describe_keys()
    assert "group_size" in listing and "Completions sampled per prompt" in listing
    assert "num_generations->group_size" in listing
