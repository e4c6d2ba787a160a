"""#14 items 1, 2 and 8: a run folder is never silently reused, ``--resume RUN`` continues RUN with
its own config, failed runs leave no empty folder, an eval never overwrites an earlier one.
Tiny runs through the CLI (2 prompts x 2 completions x 8 tokens; seconds per step)."""

import json
from pathlib import Path

import yaml

from cli_helpers import error_lines
from hybridrl.cli import main


def metrics_steps(run: Path) -> list[int]:
    return [json.loads(l)["step"] for l in (run / "metrics.jsonl").read_text().splitlines()]


def test_overwrite_refused_resume_alone_continues(tmp_path, monkeypatch, capsys, tiny):
    monkeypatch.chdir(tmp_path)
    # no --output-dir: a fresh runs/<method>-<time> folder (before #14: runs/latest, shared by every run)
    assert main(["train", "--method", "sft", "--steps", "2", *tiny]) == 0
    runs = sorted(Path("runs").iterdir())
    assert len(runs) == 1 and runs[0].name.startswith("sft-")
    run = runs[0]
    before = (run / "metrics.jsonl").read_text()
    capsys.readouterr()

    # a GRPO run into the SFT run's folder: refused, naming what differs; nothing touched
    # (before #14: exit 0, metrics.jsonl truncated, config.yaml said grpo beside sft checkpoints)
    assert main(["train", "--method", "grpo", "--steps", "2", "--output-dir", str(run), *tiny]) == 2
    err = capsys.readouterr().err
    [line] = error_lines(err)
    assert f"{run} holds another run (a sft run with a checkpoint at step-000002)" in line
    assert "method 'sft' -> 'grpo'" in line and "--overwrite" in line
    assert (run / "metrics.jsonl").read_text() == before
    assert yaml.safe_load((run / "config.yaml").read_text())["method"] == "sft"

    # the same settings again: refused too (it would restart a run that can be continued)
    assert main(["train", "--method", "sft", "--steps", "2", "--output-dir", str(run), *tiny]) == 2
    assert f"continue it with `hybridrl train --resume {run}`" in capsys.readouterr().err

    # --resume RUN alone (+ more steps): RUN's own config, no --task/--method needed
    # (before #14: "config key 'task' or 'data' required")
    # (a --config naming another output_dir does not move it: before #14 the run went there)
    other = tmp_path / "other.yaml"
    other.write_text(f"output_dir: {tmp_path / 'elsewhere'}\nlog_every: 1\n")
    assert main(["train", "--resume", str(run), "--steps", "3", "--config", str(other)]) == 0
    err = capsys.readouterr().err
    assert "hybridrl: resume: steps 2 -> 3" in err and not (tmp_path / "elsewhere").exists()
    assert yaml.safe_load((run / "config.yaml").read_text())["method"] == "sft"
    assert len(metrics_steps(run)) == 3 and (run / "checkpoints" / "step-000003").is_dir()

    # an override that changes the run's meaning is refused (before #14: silently switched method)
    for bad, key in ((["--method", "grpo"], "method 'sft' -> 'grpo'"), (["group_size=4"], "group_size 2 -> 4"),
                     (["--model", "smollm2-135m"], "model 'tiny' -> 'smollm2-135m'")):
        assert main(["train", "--resume", str(run), "--steps", "4", *bad]) == 2
        [line] = error_lines(capsys.readouterr().err)
        assert "these would change what the run trains" in line and key in line, line
    # --resume into a finished run without more steps says what to do
    assert main(["train", "--resume", str(run)]) == 2
    assert "pass --steps N with N > 3" in capsys.readouterr().err

    # --overwrite replaces it: only the new run's files remain
    assert main(["train", "--method", "grpo", "--steps", "1", "--output-dir", str(run), "--overwrite", *tiny]) == 0
    assert yaml.safe_load((run / "config.yaml").read_text())["method"] == "grpo"
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-000001"]
    assert len(metrics_steps(run)) == 1


def test_failed_run_leaves_no_folder_and_data_without_eval_set_says_so(tmp_path, monkeypatch, capsys, tiny):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "1+1?", "answer": "2"}\n{"prompt": "2+2?"}\n')
    out = tmp_path / "new-run"
    args = [a for a in tiny if not a.startswith("--task") and a != "chain_sum"]
    assert main(["train", "--method", "grpo", "--steps", "1", "--data", str(bad), "--output-dir", str(out), *args]) == 2
    err = capsys.readouterr().err
    assert f"no eval set (training from data={bad})" in err  # before #14: the final eval was skipped silently
    assert error_lines(err) == [f"hybridrl: error: {bad}:2: field 'answer': missing (the row has fields: prompt); "
                                f"if another column holds it, pass answer_column=NAME"]
    assert not out.exists()  # before #14: an empty folder was left behind
    # a model that cannot be loaded (a hub id, offline): neither the run folder nor runs/ stays
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--task", "chain_sum", "--model", "someone/model", "train_size=8"]) == 2
    [line] = error_lines(capsys.readouterr().err)
    assert line.startswith("hybridrl: error: cannot load model 'someone/model'") and "HF_HUB_OFFLINE" in line
    assert not (tmp_path / "runs").exists()


def test_eval_never_overwrites_an_earlier_eval(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = ["eval", "--model", "tiny", "--task", "chain_sum", "--size", "2", "--max-new-tokens", "4"]
    assert main(argv) == 0 and main(argv) == 0
    folders = sorted(p.name for p in Path("runs").iterdir())  # before #14: runs/eval both times
    assert len(folders) == 2 and all(f.startswith("eval-") for f in folders)
    assert main([*argv, "--output-dir", f"runs/{folders[0]}"]) == 2
    assert "already holds an evaluation" in capsys.readouterr().err
