"""Faults inside a run on the tiny model: non-finite losses skip the update (weights and
optimizer untouched), K in a row stop the run with a clear message and a checkpoint of the last
good state; a user reward that raises or returns garbage scores 0, is counted in
``reward/errors`` and its traceback is shown once."""

import json
import logging
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import hybridrl.rewards.scoring as scoring
import hybridrl.training.update.terms as terms
from hybridrl.cli import main
from hybridrl.training.persistence import checkpoint as ckpt
from hybridrl.config import build_config
from hybridrl.training.loop.trainer import Trainer
from hybridrl.training.loop.sampler import PromptSampler


class NaNInjector:
    """Multiplies every per-token loss by NaN while ``on`` (so the loss and all gradients are NaN)."""

    def __init__(self, monkeypatch):
        self.on = False
        self.injected = 0
        real = terms.term_loss

        def term_loss(*args, **kwargs):
            ptl, metrics = real(*args, **kwargs)
            if self.on:
                self.injected += 1
                ptl = ptl * float("nan")
            return ptl, metrics

        monkeypatch.setattr(terms, "term_loss", term_loss)


def cfg_of(overrides, method="grpo"):
    return build_config(None, {"method": method, "model": "tiny", "task": "chain_sum"}, overrides)


def weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_one_nonfinite_update_is_skipped_and_the_run_goes_on(tiny_overrides, monkeypatch):
    nan = NaNInjector(monkeypatch)
    t = Trainer(cfg_of(tiny_overrides(steps=3, eval_size=0)))
    t.step(0)
    w0, opt0 = weights(t.model), [int(s["step"]) for s in t.optimizer.state.values()]
    nan.on = True
    rec = t.step(1)
    assert nan.injected > 0 and rec["update_skipped"] is True and t.nonfinite == 1
    for k, v in weights(t.model).items():  # not one weight moved
        assert torch.equal(v, w0[k]), k
    assert [int(s["step"]) for s in t.optimizer.state.values()] == opt0  # Adam did not step either
    nan.on = False
    rec = t.step(2)
    assert rec["update_skipped"] is False and t.nonfinite == 0  # the counter resets
    assert any(not torch.equal(v, w0[k]) for k, v in weights(t.model).items())


def test_k_nonfinite_updates_stop_with_a_message_and_the_last_good_checkpoint(tiny_overrides, monkeypatch,
                                                                            tmp_path, capsys):
    nan = NaNInjector(monkeypatch)
    real_step = Trainer.step

    def step(self, s):  # faults from step 2 on
        nan.on = s >= 2
        return real_step(self, s)

    # every batch the sampler hands out, and the rows it samples from
    drawn, samplers = [], []
    real_next, real_init = PromptSampler.next, PromptSampler.__init__

    def spy_init(self, rows, batch, seed):
        real_init(self, rows, batch, seed)
        samplers.append((rows, batch, seed))

    def spy_next(self, exclude=None):
        rows, epoch = real_next(self, exclude)
        drawn.append([r.id for r in rows])
        return rows, epoch

    monkeypatch.setattr(Trainer, "step", step)
    monkeypatch.setattr(PromptSampler, "__init__", spy_init)
    monkeypatch.setattr(PromptSampler, "next", spy_next)
    run = tmp_path / "run"
    # the fault is injected into the loss: keep every micro-batch computed (a zero-advantage one
    # is otherwise skipped, never reaches the loss and so cannot fail)
    over = tiny_overrides(steps=8, save_every=1, keep_last=10, max_nonfinite_steps=3, skip_zero_advantage=False,
                          eval_size=0)
    rc = main(["train", "--method", "grpo", "--model", "tiny", "--task", "chain_sum", *over])
    err = capsys.readouterr().err
    assert rc == 1
    # steps 2, 3, 4 fail; the third in a row stops the run at step 4
    assert "hybridrl: training aborted: 3 consecutive updates had a non-finite loss or gradient" in err
    assert f"stopped at step 4, the last good state is saved in {run / 'checkpoints' / 'step-000004'}" in err
    recs = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["update_skipped"] for r in recs] == [False, False, True, True]
    assert ckpt.latest_checkpoint(run).name == "step-000004"
    # the saved weights are the last good ones: those after step 1 (= checkpoint step-000002)
    good = load_file(str(run / "checkpoints" / "step-000002" / "model" / "model.safetensors"))
    final = load_file(str(run / "checkpoints" / "step-000004" / "model" / "model.safetensors"))
    assert good.keys() == final.keys() and all(torch.equal(good[k], final[k]) for k in good)
    state = ckpt.load_state(run / "checkpoints" / "step-000004")
    assert state["step"] == 4
    # the aborted step's batch went back to the sampler: the state is that after 4 batches
    # (steps 0-3) of 2 rows = position 8 of epoch 0 (16 rows), not 10 (after step 4's draw)
    assert state["sampler"] == {"epoch": 0, "position": 8}
    # the order the batches must come in, from a fresh sampler over the same rows
    rows, batch, seed = samplers[0]
    oracle_sampler = PromptSampler(rows, batch, seed)
    oracle = [[r.id for r in real_next(oracle_sampler)[0]] for _ in range(8)]  # unspied
    assert drawn == oracle[:5]  # steps 0-4 (4 aborted)

    # the faults are gone (say, a lower lr): --resume continues from the saved state to the end
    monkeypatch.setattr(Trainer, "step", real_step)
    nan.on = False
    drawn.clear()
    rc = main(["train", "--method", "grpo", "--model", "tiny", "--task", "chain_sum", "--resume", str(run), *over])
    assert rc == 0, capsys.readouterr().err
    # the resumed step 4 trains on the batch the aborted step 4 had drawn, then on 5, 6, 7
    assert drawn == oracle[4:8]
    recs = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in recs] == list(range(1, 9))  # steps completed
    assert ckpt.latest_checkpoint(run).name == "step-000008"


def test_faulty_user_reward_scores_zero_is_counted_and_logged_once(tiny_overrides, monkeypatch, caplog):
    # rel_helpers.faulty: raises on lengths 1 mod 4, returns NaN on lengths 3 mod 4, else 1.0
    monkeypatch.setattr(scoring, "_LOGGED_TRACEBACK", False)
    t = Trainer(cfg_of(tiny_overrides(steps=3, eval_size=0, reward_fn="rel_helpers:faulty")))
    with caplog.at_level(logging.WARNING, logger="hybridrl.rewards.scoring"):
        recs = [t.step(s) for s in range(3)]
    errors = sum(r["reward/errors"] for r in recs)
    assert errors > 0  # 3 steps x 8 completions of random lengths: some fail
    for r in recs:
        # every sample that did not fail scores exactly 1: the mean reward counts the failures as 0
        assert r["reward"] == pytest.approx(1.0 - r["reward/errors"] / 8)
        assert r["update_skipped"] is False
    # the first failure (a raise, with its traceback, or a NaN) is shown once; later ones are counted
    shown = [rec.getMessage() for rec in caplog.records if "reward scoring error" in rec.getMessage()]
    assert len(shown) == 1 and ("rel_helpers:faulty" in shown[0] or "ZeroDivisionError" in shown[0])
