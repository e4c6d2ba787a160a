"""#14 items 5 and 9: every user error is one ``hybridrl: error: ...`` line and exit 2 (no
traceback unless --debug), before any model loads; help shows defaults, examples and every key.
None of these load a model (the loader is replaced by one that fails the test)."""


import pytest

import hybridrl.models.loading
from cli_helpers import error_lines
from hybridrl.cli import main


@pytest.fixture(autouse=True)
def no_model(monkeypatch):
    def fail(*a, **k):
        raise AssertionError("a model was loaded before the error was reported")

    monkeypatch.setattr(hybridrl.models.loading, "load_model_and_tokenizer", fail)


CASES = [
    # (argv, the one error line (a prefix of it)) -- before #14 most of these were tracebacks
    (["train", "--model", "smolm2-135m", "--task", "chain_sum"],
     "hybridrl: error: config key 'model': unknown model 'smolm2-135m' (did you mean smollm2-135m?)"),
    (["eval", "--model", "smolm2-135m", "--task", "chain_sum"],
     "hybridrl: error: config key 'model': unknown model 'smolm2-135m' (did you mean smollm2-135m?)"),
    (["train", "--model", "tiny", "--task", "chainsum"],
     "hybridrl: error: config key 'task': unknown task 'chainsum' (did you mean chain_sum?)"),
    (["eval", "--model", "tiny", "--task", "chainsum"],
     "hybridrl: error: unknown task 'chainsum' (did you mean chain_sum?)"),
    (["data", "--task", "chainsum", "--out", "x.jsonl"], "hybridrl: error: unknown task 'chainsum' (did you mean chain_sum?)"),
    (["data", "--task", "chain_sum", "--difficulty", "7", "--out", "x.jsonl"],
     "hybridrl: error: task 'chain_sum': difficulty must be one of [1, 2, 3]"),
    (["data", "--task", "chain_sum", "--out", "x.csv"], "hybridrl: error: --out x.csv: use a .jsonl or .parquet"),
    (["train", "--task", "chain_sum", "beta=-1"], "hybridrl: error: config key 'beta': must be >= 0, got -1.0"),
    (["train", "--task", "chain_sum", "top_p=1.5"], "hybridrl: error: config key 'top_p': must be in (0, 1], got 1.5"),
    (["train", "--task", "chain_sum", "reward_fn=nomod:f"],
     "hybridrl: error: config key 'reward_fn': cannot import module 'nomod'"),
    (["train", "--task", "chain_sum", "reward_fn=scripted_rewards:nosuch"],
     "hybridrl: error: config key 'reward_fn': module 'scripted_rewards' has no function 'nosuch'"),
    (["train", "--task", "chain_sum", "reward_fn=scripted_rewards:one_arg"],
     "hybridrl: error: config key 'reward_fn': scripted_rewards:one_arg must accept (completion, row)"),
    (["train", "--task", "chain_sum", "num_generation=4"],
     "hybridrl: error: unknown config key 'num_generation' (did you mean group_size"),
    (["eval", "--model", "tiny", "--task", "chain_sum", "--samples", "2", "--k", "1,x"],
     "hybridrl: error: --k 1,x: expected comma-separated integers"),
    (["train", "--resume", "no/such/run"], "hybridrl: error: --resume no/such/run: no such run folder"),
]


@pytest.mark.parametrize("argv, line", CASES, ids=[" ".join(c[0][:3] + c[0][-1:]) for c in CASES])
def test_user_error_is_one_line_and_exit_2(argv, line, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = error_lines(err)
    assert len(lines) == 1 and lines[0].startswith(line), err


def test_debug_adds_the_traceback(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--task", "chainsum", "--debug"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and error_lines(err)


def test_help_shows_defaults_and_an_example_per_subcommand(capsys):
    for cmd in ("data", "train", "eval", "compare", "probe", "demo"):
        with pytest.raises(SystemExit):
            main([cmd, "--help"])
        out = capsys.readouterr().out
        assert "examples:\n  hybridrl " in out, cmd
        assert "(default:" in out, cmd
    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    out = capsys.readouterr().out
    assert "95% bootstrap" in out and "95%%" not in out
    assert "(default: 0.6)" in out  # --temperature


def test_data_help_describes_every_option(capsys):
    import argparse

    from hybridrl.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name in ("data", "train", "eval"):
        undocumented = [a.dest for a in sub.choices[name]._actions if not a.help]
        assert undocumented == [], (name, undocumented)


def test_list_keys_lists_every_field_with_type_default_and_doc(capsys):
    from hybridrl.config import KEYS

    assert main(["train", "--list-keys"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines() if line.strip() and not line.startswith("aliases")}
    for key in KEYS:
        assert key in rows, key
    assert rows["group_size"].split()[1:3] == ["int", "8"] and "Completions sampled per prompt" in rows["group_size"]
    assert rows["bf16"].split()[1:5] == ["bool", "|", "str", "auto"]
    assert "num_generations->group_size" in out
