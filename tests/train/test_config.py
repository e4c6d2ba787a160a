import pytest

from hybridrl.train.config import ConfigError, TrainConfig, build_config


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
    y.write_text("task: chain_sum\nlearning_rate: 1\n")
    with pytest.raises(ConfigError, match=r"c.yaml: unknown config key 'learning_rate'"):
        build_config(y)


@pytest.mark.parametrize("item, msg", [
    ("steps=ten", r"'steps': expected an integer, got 'ten'"),
    ("lr=fast", r"'lr': expected a number"),
    ("bf16=maybe", r"'bf16': expected true/false"),
    ("steps=0", r"'steps': must be >= 1"),
    ("template=jinja", r"'template': unknown template 'jinja'"),
    ("method=nope", r"'method': unknown method 'nope'"),
    ("rl_preset=nope", r"'rl_preset': unknown preset"),
])
def test_bad_values_name_the_key(item, msg):
    with pytest.raises(ConfigError, match=msg):
        build_config(None, {"task": "chain_sum"}, [item])


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
    # every field carries a docstring in the source (flat config, one source of truth)
    import inspect

    import hybridrl.train.config as mod

    src = inspect.getsource(mod.TrainConfig)
    for name in ("group_size", "prompts_per_step", "micro_batch_size", "beta", "old_logprobs"):
        assert f"    {name}:" in src
    assert isinstance(TrainConfig(), TrainConfig)
