"""``kill -9`` a CPU training run (at random points, and in the middle of writing a checkpoint),
``--resume`` it, and end with the same final weights as an uninterrupted run; a full disk while
checkpointing leaves the previous checkpoint intact."""

import errno
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from hybridrl.cli import main
from hybridrl.training.persistence import checkpoint as ckpt
from tiny_runs import STEPS, assert_same, final_weights, reference_runs, run_args


def args(out: Path, steps: int = STEPS) -> list[str]:
    return run_args(out, steps, save_every=1)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run's final weights, per number of steps."""
    return reference_runs(tmp_path_factory, args)


def start(cmd: list[str], log: Path) -> subprocess.Popen:
    # own process group: the kill takes the reward workers down too, as a crash of the machine would
    return subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)


def kill9(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


def resume_and_compare(run: Path, reference, steps: int = STEPS) -> None:
    if ckpt.latest_checkpoint(run) is None:  # killed before the first checkpoint: start again
        assert main(args(run, steps)) == 0
    else:
        assert main(args(run, steps) + ["--resume", str(run)]) == 0
    assert_same(final_weights(run, steps), reference(steps))
    import json

    steps_logged = [json.loads(l)["step"] for l in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps_logged == list(range(1, steps + 1))  # each step once (steps completed), no torn line


KILL_IN_CHECKPOINT = textwrap.dedent("""
    import os, signal, sys
    import hybridrl.training.persistence.checkpoint as c
    real = c.torch.save
    def save(obj, path, *a, **k):
        if obj.get("step") == 3:  # model files of step 3 are written, state.pt is being written
            with open(path, "wb") as f:
                f.write(b"half a state")
            os.kill(os.getpid(), signal.SIGKILL)
        return real(obj, path, *a, **k)
    c.torch.save = save
    from hybridrl.cli import main
    sys.exit(main(sys.argv[1:]))
""")


def test_kill9_while_writing_a_checkpoint_then_resume(tmp_path, reference):
    run = tmp_path / "run"
    proc = start([sys.executable, "-c", KILL_IN_CHECKPOINT, *args(run)], tmp_path / "log")
    assert proc.wait(timeout=300) == -signal.SIGKILL, (tmp_path / "log").read_text()[-2000:]
    root = run / "checkpoints"
    assert [p.name for p in ckpt.complete_checkpoints(run)] == ["step-000001", "step-000002"]
    assert list(root.glob(".tmp-step-000003-*"))  # the torn write is there, and ignored
    resume_and_compare(run, reference)
    assert not list(root.glob(".tmp-*"))  # cleaned by the next save


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_kill9_at_a_random_moment_then_resume(tmp_path, reference, seed):
    rng = random.Random(seed)
    steps = 8
    run = tmp_path / "run"
    proc = start([sys.executable, "-m", "hybridrl.cli", *args(run, steps)], tmp_path / "log")
    # wait for the run to be under way (its first step logged), then kill at a random moment
    metrics = run / "metrics.jsonl"
    deadline = time.monotonic() + 300
    while not (metrics.exists() and metrics.stat().st_size) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(rng.uniform(0.0, 3.0))
    finished = proc.poll() is not None
    kill9(proc)
    print(f"seed {seed}: killed={not finished}, checkpoints={[p.name for p in ckpt.complete_checkpoints(run)]}")
    resume_and_compare(run, reference, steps)


class FullDisk:
    def __init__(self, real):
        self.real, self.calls = real, 0

    def __call__(self, *a, **k):
        self.calls += 1
        raise OSError(errno.ENOSPC, "No space left on device")


def test_full_disk_while_checkpointing_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    from hybridrl.models.loading import load_model_and_tokenizer

    model, tok = load_model_and_tokenizer("tiny")
    good = ckpt.save_checkpoint(tmp_path, 1, model, tok, {"step": 1, "rng": ckpt.rng_state()}, keep_last=1)
    w1 = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    # the disk fills while writing the optimizer state (after the model files), then while writing
    # the model itself
    for target in ("torch.save", "save_pretrained"):
        with monkeypatch.context() as m:
            if target == "torch.save":
                m.setattr(ckpt.torch, "save", FullDisk(torch.save))
            else:
                m.setattr(type(model), "save_pretrained", FullDisk(None))
            with pytest.raises(OSError) as err:
                ckpt.save_checkpoint(tmp_path, 2, model, tok, {"step": 2}, keep_last=1)
        assert err.value.errno == errno.ENOSPC
        assert f"the previous checkpoint is intact: {good}" in "\n".join(getattr(err.value, "__notes__", []))
        assert ckpt.latest_checkpoint(tmp_path) == good and ckpt.load_state(good)["step"] == 1
        assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["step-000001"]  # no temp folder left
        from hybridrl.models.loading import load_model_and_tokenizer as load

        fresh, _ = load("tiny", seed=123)
        ckpt.load_model_weights(fresh, good)
        for k, v in fresh.state_dict().items():
            assert torch.equal(v, w1[k]), k
