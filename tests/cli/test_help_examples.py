"""#29 item 12: every example in every ``--help`` runs, as written, on the tiny model.

The examples are read from the parsers themselves (a new example is tested without editing
this file). Where an example names the real model it runs on ``tiny``; step counts and budgets
are made small (the same overrides for every training command); files and runs an example
names but no earlier example makes are made first. The demo examples train SmolLM2 and are
marked slow; the vLLM one needs ``.venv-vllm``.
"""

import re
import shlex
from pathlib import Path

import pytest

from hybridrl.cli import build_parser, main

SMALL = ["train_size=8", "eval_size=2", "prompts_per_step=2", "group_size=2", "max_new_tokens=4",
         "micro_batch_size=4", "progress=false", "save_every_minutes=0"]
TRAINS = ("train", "compare", "probe")


def help_examples() -> list[tuple[str, str]]:
    """(command, example line) for every example under "examples:" in every --help, in order."""
    parser = build_parser()
    sub = next(a for a in parser._actions if a.choices and "train" in a.choices)
    out = [("hybridrl", parser.epilog)] + [(name, p.epilog) for name, p in sub.choices.items()]
    examples = []
    for name, epilog in out:
        text = (epilog or "").split("examples:", 1)[-1].replace("\\\n", " ")
        for line in text.splitlines():
            line = line.split("  #")[0].strip()
            if re.match(r"^(\S*/)?hybridrl ", line) and "<command>" not in line:
                examples.append((name, line))
    return examples


EXAMPLES = help_examples()


def small(argv: list[str]) -> list[str]:
    """The example with the tiny model and a small budget (its own options otherwise kept)."""
    argv = ["tiny" if a == "smollm2-135m" else a for a in argv]
    if argv[0] == "train" and "--resume" in argv:
        return [a if not (i and argv[i - 1] == "--steps") else "3" for i, a in enumerate(argv)]
    out = [a if not (i and argv[i - 1] == "--steps") else "2" for i, a in enumerate(argv)]
    if argv[0] in TRAINS and "--list-keys" not in argv:
        out += ["model=tiny"] if "--config" in argv and "--model" not in argv else []
        out += [s for s in SMALL if s.split("=")[0] + "=" not in " ".join(argv)]
        if "--steps" not in argv and not any(a.startswith("steps=") for a in argv):
            out += ["superrl_k=2"] if argv[0] == "probe" else ["steps=2"]
    if argv[0] == "eval":
        out += ["--max-new-tokens", "4", "--size", "4"] if "--size" not in argv else ["--max-new-tokens", "4"]
        out = [a if not (i and out[i - 1] == "--size") else "4" for i, a in enumerate(out)]
    return out


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """Files and runs the examples name: own data (question/final columns, and rows with
    demonstrations), and the runs the eval examples read."""
    import json

    from hybridrl.data.loading import write_jsonl
    from hybridrl.data.tasks import build_task

    d = tmp_path_factory.mktemp("examples")
    write_jsonl(build_task("chain_sum", size=8, seed=0, split="train"), d / "my.jsonl")
    write_jsonl(build_task("chain_sum", size=4, seed=0, split="test"), d / "my_test_rows.jsonl")
    (d / "my_test.jsonl").write_text("".join(json.dumps({"question": f"{i} + {i} = ?", "final": str(2 * i),
                                                         "prompt": f"{i} + {i} = ?", "answer": str(2 * i)}) + "\n"
                                             for i in range(4)))
    for run in ("runs/grpo-20260101-120000", "runs/grpo-50"):
        assert main(["train", "--method", "grpo", "--model", "tiny", "--task", "chain_sum", "--steps", "1",
                     "--output-dir", str(d / run), *SMALL]) == 0
    return d


def test_every_help_example_runs(workdir, monkeypatch, capsys):
    # one test, the examples in their order: later ones use what earlier ones wrote (data files, runs)
    monkeypatch.chdir(workdir)
    failed = []
    for command, line in EXAMPLES:
        if command == "demo" or line.startswith("hybridrl demo"):
            continue  # SmolLM2 runs: test_demo_examples_run (slow)
        argv = small(shlex.split(line)[1:])
        code = main(argv)
        err = capsys.readouterr().err
        if code != 0:
            failed.append(f"{line}\n  ran as: hybridrl {' '.join(argv)}\n  exit {code}: {err.strip()[-600:]}")
    assert not failed, "\n".join(failed)


@pytest.mark.slow
@pytest.mark.parametrize("line", sorted({e[1] for e in EXAMPLES if e[1].split()[1] == "demo"}))
def test_demo_examples_run(line, tmp_path, monkeypatch):
    argv = shlex.split(line)
    if argv[0] != "hybridrl":
        venv = Path(__file__).parents[2] / argv[0]
        if not venv.exists():
            pytest.skip(f"{argv[0]} is not installed (make install-vllm)")
    monkeypatch.chdir(tmp_path)
    assert main(argv[1:]) == 0
