"""Bad input files and bad configs fail through the CLI with exit code 2 and a message naming the
file, line and field (or the config key), before any model loads.

Per-row validation is tested message by message in tests/data/test_data_loading.py and
tests/train/test_config.py; here each class of fault goes through ``hybridrl train`` with the
model loader replaced by one that fails the test if it is ever reached.
"""

import json
import time

import pytest

import hybridrl.models.loading
from hybridrl.cli import main
from hybridrl.data.loading import MAX_TEXT_CHARS, DataError, load_rows

GOOD = '{"prompt": "What is 2 + 3?", "answer": "5"}\n'
TEN_MB = 10 * 1024 * 1024


@pytest.fixture(autouse=True)
def no_model(monkeypatch):
    """Any model load is a test failure: every error below must come first."""

    def fail(*args, **kwargs):
        raise AssertionError("the model was loaded before the input error was reported")

    monkeypatch.setattr(hybridrl.models.loading, "load_model_and_tokenizer", fail)


def train_cli(tmp_path, *args):
    # options first, then key=value overrides (argparse does not intermix them)
    opts = [a for a in args if "=" not in a or a.startswith("-")]
    opts += [a for a in args if "=" in a and not a.startswith("-")]
    return main(["train", "--model", "tiny", "--steps", "2", "--output-dir", str(tmp_path / "run"),
                 *opts, "prompts_per_step=1", "progress=false"])


BAD_FILES = [
    # (bytes of bad.jsonl, expected message after the path)
    ((GOOD + '{"prompt": "q"}\n').encode(), ":2: field 'answer': missing (the row has fields: prompt)"),
    ((GOOD + '{"question": "q", "answer": "1"}\n').encode(), ":2: field 'prompt': missing"),
    ((GOOD + '{"prompt": "q", "answer": {"x": 1}}\n').encode(), ":2: field 'answer': expected a string"),
    ((GOOD * 2 + '{"prompt": " \\n ", "answer": "1"}\n').encode(), ":3: field 'prompt': empty string"),
    (GOOD.encode() + b'{"prompt": "caf\xe9", "answer": "1"}\n', ":2: not valid UTF-8 (byte 16 of the line"),
    ((GOOD + '{"prompt": "q", "answer": "1", "demonstr').encode(), ":2: truncated last line"),
    ((GOOD + '{"prompt": "q", "answers": "1"}\n').encode(), ":2: field 'answers': unknown field (did you mean"),
    ((GOOD + json.dumps({"prompt": "x" * TEN_MB, "answer": "1"}) + "\n").encode(),
     f":2: field 'prompt': {TEN_MB:,} characters, over the limit of {MAX_TEXT_CHARS:,}"),
    ((GOOD + json.dumps({"prompt": "q", "answer": "1", "demonstration": "y" * TEN_MB}) + "\n").encode(),
     f":2: field 'demonstration': {TEN_MB:,} characters"),
]


@pytest.mark.parametrize("content, message", BAD_FILES, ids=[
    "missing-answer", "missing-prompt", "wrong-type", "empty-prompt", "non-utf8", "truncated", "typo-field",
    "10MB-prompt", "10MB-demonstration"])
def test_bad_data_file_exits_2_naming_file_line_field(tmp_path, capsys, content, message):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(content)
    t0 = time.perf_counter()
    assert train_cli(tmp_path, "--method", "grpo", "--data", str(bad)) == 2
    err = capsys.readouterr().err
    assert f"hybridrl: error: {bad}{message}" in err, err[:500]
    assert time.perf_counter() - t0 < 10  # a 10 MB row is rejected quickly, not tokenized
    assert len(err) < 2000  # the message quotes no 10 MB value


def test_10mb_row_error_from_the_library_too(tmp_path):
    # the same check holds for chat-message prompts (the contents add up) and answers
    bad = tmp_path / "big.jsonl"
    msgs = [{"role": "user", "content": "z" * (TEN_MB // 2)}, {"role": "user", "content": "z" * (TEN_MB // 2)}]
    bad.write_text(json.dumps({"prompt": msgs, "answer": "1"}) + "\n" + json.dumps({"prompt": "q", "answer": "9" * TEN_MB}) + "\n")
    with pytest.raises(DataError, match=rf"big.jsonl:1: field 'prompt': {TEN_MB:,} characters"):
        load_rows(bad, verify_demos=False)
    bad.write_text(GOOD + json.dumps({"prompt": "q", "answer": ["1", "9" * TEN_MB]}) + "\n")
    with pytest.raises(DataError, match=r"big.jsonl:2: field 'answer': "):
        load_rows(bad, verify_demos=False)
    ok = tmp_path / "ok.jsonl"  # right at the limit is accepted
    ok.write_text(json.dumps({"prompt": "p" * MAX_TEXT_CHARS, "answer": "1"}) + "\n")
    assert len(load_rows(ok, verify_demos=False)[0][0].prompt) == MAX_TEXT_CHARS


def test_unverified_demonstrations_are_dropped_then_a_demo_method_refuses(tmp_path, capsys):
    # the only demonstration ends in the wrong answer: it is dropped and counted, and HPT (which
    # trains on demonstrations) then has none left: a config error, before the model loads
    data = tmp_path / "demos.jsonl"
    data.write_text(json.dumps({"prompt": "What is 2 + 3?", "answer": "5",
                                "demonstration": "2 + 3 = 6, so \\boxed{6}."}) + "\n" + GOOD)
    rows, stats = load_rows(data)
    assert stats["demos_dropped"] == 1 and stats["demos_kept"] == 0 and rows[0].demonstration is None
    assert train_cli(tmp_path, "--method", "hpt", "--data", str(data)) == 2
    err = capsys.readouterr().err
    assert "method 'hpt' trains on demonstrations, but no training row has a (verified) 'demonstration'" in err


BAD_CONFIGS = [
    # (extra CLI args, YAML text or None, expected message)
    # (learning_rate is TRL's name, accepted as an alias of lr: misspell it)
    (["--method", "grpo", "--task", "chain_sum", "learnin_rate=1e-5"], None,
     "unknown config key 'learnin_rate' (did you mean lr?)"),
    (["--method", "grpo", "--task", "chain_sum"], "task: chain_sum\ngrop_size: 4\n",
     "c.yaml: unknown config key 'grop_size' (did you mean group_size"),
    (["--method", "grpo", "--task", "chain_sum", "max_new_tokens=lots"], None,
     "config key 'max_new_tokens': expected an integer, got 'lots'"),
    (["--method", "grpo", "--task", "chain_sum"], "bf16: [1, 2]\n", "config key 'bf16': expected true/false"),
    (["--method", "grpo", "--task", "chain_sum", "group_size=1"], None,
     "config key 'group_size': method 'grpo' normalises rewards within a group, which needs group_size >= 2"),
    (["--method", "grpo", "--task", "chain_sum", "temperature=0"], None, "config key 'temperature': must be > 0"),
    (["--method", "sft"], None, "config key 'task' or 'data': one of them is required"),
    (["--method", "grpo", "--task", "chain_sum", "report_to=mlflow"], None, "config key 'report_to'"),
    (["--method", "grpo", "--task", "chain_sum"], "- a\n- list\n", "expected a mapping of key: value"),
]


@pytest.mark.parametrize("args, yaml_text, message", BAD_CONFIGS, ids=[
    "unknown-key", "unknown-yaml-key", "wrong-type", "wrong-yaml-type", "grpo-group-1", "temperature-0",
    "no-data", "bad-backend", "yaml-not-mapping"])
def test_bad_config_exits_2_naming_the_key(tmp_path, capsys, args, yaml_text, message):
    if yaml_text is not None:
        (tmp_path / "c.yaml").write_text(yaml_text)
        args = ["--config", str(tmp_path / "c.yaml"), *args]
    assert train_cli(tmp_path, *args) == 2
    err = capsys.readouterr().err
    assert message in err, err


@pytest.mark.parametrize("method", ["hpt", "sft", "luffy"])
def test_demo_method_without_demonstrations_exits_2(tmp_path, capsys, method):
    data = tmp_path / "plain.jsonl"
    data.write_text(GOOD * 3)
    assert train_cli(tmp_path, "--method", method, "--data", str(data)) == 2
    assert f"method '{method}' trains on demonstrations" in capsys.readouterr().err


def test_resume_without_a_checkpoint_exits_2(tmp_path, capsys, monkeypatch):
    # --resume of a folder with no complete checkpoint: a clear error (after the data checks,
    # so the model loader must be reachable here)
    monkeypatch.undo()
    (tmp_path / "empty").mkdir()
    assert train_cli(tmp_path, "--method", "grpo", "--task", "chain_sum", "train_size=4",
                     "--resume", str(tmp_path / "empty")) == 2
    assert "no complete checkpoint found" in capsys.readouterr().err
