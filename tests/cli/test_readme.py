"""#29 ("every README command runs in a test"): the README's Use commands and its Python API
example, on the tiny model. The Python example runs exactly as written (it already names
``tiny``); the CLI lines run with ``tiny`` for ``smollm2-135m``, 2-3 steps instead of 100-200
(and the checkpoint they name renumbered to match) and the small budget of the --help examples.
``accelerate launch ... train ...`` lines are templates (``...``), tested in tests/parallel."""

import re
import shlex
from pathlib import Path

from hybridrl.cli import main
from test_help_examples import small

README = Path(__file__).parents[2] / "README.md"
STEPS = {"--steps 100": "--steps 2", "steps=200": "steps=3", "--resume runs/hpt --steps 200": "--resume runs/hpt --steps 3",
         "step-000100": "step-000002"}


def fenced(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", README.read_text(), flags=re.S | re.M)


def use_commands() -> list[str]:
    [use] = [b for b in fenced("bash") if "hybridrl data" in b and "hybridrl train" in b]
    return [line.split("  #")[0].strip() for line in use.splitlines() if line.startswith("hybridrl ")]


def test_readme_use_commands_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    lines = use_commands()
    assert [l.split()[1] for l in lines] == ["data", "train", "train", "train", "train", "eval"]
    failed = []
    for line in lines:
        for a, b in STEPS.items():
            line = line.replace(a, b)
        argv = small(shlex.split(line)[1:])
        code = main(argv)
        err = capsys.readouterr().err
        if code != 0:
            failed.append(f"hybridrl {' '.join(argv)}: exit {code}: {err.strip()[-600:]}")
    assert not failed, "\n".join(failed)


def test_readme_python_example_runs_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    [example] = [b for b in fenced("python") if "from hybridrl import" in b]
    namespace: dict = {}
    exec(compile(example, "README.md", "exec"), namespace)
    assert Path("runs/cmp/report.md").exists()
    assert Path(namespace["summary"]["output_dir"], "checkpoints", "step-000004").is_dir()
