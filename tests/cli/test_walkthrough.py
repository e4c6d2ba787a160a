"""#29: docs/walkthrough.md runs as written (own data in other column names -> train -> eval ->
compare -> report), here on the tiny model with a shorter token budget; the lines the page
quotes from the console are checked against what the commands print."""

import re
import shlex
from pathlib import Path

from hybridrl.cli import main

PAGE = Path(__file__).parents[2] / "docs" / "walkthrough.md"
TINY = {"smollm2-135m": "tiny", "max_new_tokens=48": "max_new_tokens=8"}


def blocks(lang: str) -> list[str]:
    """The page's fenced blocks of ``lang`` ("" = plain blocks: console output)."""
    out, current, inside = [], [], None
    for line in PAGE.read_text().splitlines():
        if line.startswith("```"):
            if inside is None:
                inside, current = line[3:].strip(), []
            else:
                if inside == lang:
                    out.append("\n".join(current) + "\n")
                inside = None
        elif inside is not None:
            current.append(line)
    return out


def commands() -> list[list[str]]:
    """Every ``hybridrl`` command of the page's bash blocks (continuation lines joined)."""
    out = []
    for block in blocks("bash"):
        for line in block.replace("\\\n", " ").splitlines():
            if line.startswith("hybridrl "):
                out.append([TINY.get(a, a) for a in shlex.split(line)[1:]] + [])
    return out


def quoted() -> list[str]:
    """The console lines the page shows (its plain ``` blocks)."""
    return [line for block in blocks("") for line in block.splitlines() if line.strip()]


def test_walkthrough_runs_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    [make_data] = blocks("python")
    exec(compile(make_data, "make_data.py", "exec"), {})
    cmds = commands()
    assert [c[0] for c in cmds] == ["train", "eval", "compare", "eval"]
    say = quoted()

    # the error the page shows for data without the mapping is the one a user gets
    assert main(["train", "--model", "tiny", "--data", "mydata/train.jsonl", "--steps", "1"]) == 2
    assert say[0] in capsys.readouterr().err

    for argv in cmds:
        extra = ["progress=false"] if argv[0] in ("train", "compare") else []
        assert main(argv + extra) == 0, argv
        out, err = capsys.readouterr()
        if argv[0] == "eval" and argv[2] == "runs/my-grpo":
            assert say[1].replace("max_new_tokens=48", "max_new_tokens=8") in err
    assert Path("runs/my-grpo/checkpoints").is_dir() and Path("runs/my-grpo-eval/eval.json").exists()
    report = Path("runs/my-compare/report.md").read_text()
    assert "base" in report and "grpo" in report and "hpt" in report
    assert "exclusive solves" in Path("runs/hpt-vs-grpo/eval.md").read_text()
