"""ReLIFT controller alone (#26): which prompts enter the buffer, when it triggers the SFT
update, its order (newest first, as the official concat([new, buffer])), and its resume."""

import copy
import json

import pytest
import torch

from hybridrl.methods.relift import ReLIFTController, unsolved_rows
from hybridrl.training.loop.trainer import Trainer
from integration_helpers import demo_logprobs, make_cfg, make_trainer, run, spy_plans, weights
from methods_test_helpers import ctx, make_batch, make_config, make_rows


def test_only_prompts_with_no_correct_rollout_and_a_demonstration_enter():
    rows = make_rows(4, demos=[True, True, True, False])
    data = make_batch(rows, [[0, 0], [1, 0], [0, 0], [0, 0]])
    # row 0: 0 of 2 correct -> in; row 1: 1 correct -> out; row 2 -> in; row 3: no demonstration -> out
    assert unsolved_rows(rows, data.correct, data.rollouts.prompt_index) == [0, 2]
    # partial credit is not correctness: reward 0.5 with correct False still counts as a failure
    data = make_batch(rows[:1], [[0, 0]], rewards=[[0.5, 0.5]])
    assert unsolved_rows(rows[:1], data.correct, data.rollouts.prompt_index) == [0]


def test_buffer_triggers_one_sft_update_when_full_newest_first():
    c = ReLIFTController(make_config(relift_buffer_size=3))
    plans, sizes = [], []
    steps = [
        (make_rows(2), [[0, 0], [0, 0]]),                  # step 0: q0, q1 fail -> buffer [q0, q1] (2 < 3)
        # step 1: q1 fails -> [q1', q0, q1] = 3 -> SFT on all 3, 0 left
        (make_rows(2), [[1, 0], [0, 0]]),
        (make_rows(2), [[0, 0], [1, 1]]),                  # step 2: q0 fails -> [q0''] (1)
        # step 3: q0, q1, q2 fail -> [q0, q1, q2, q0''] = 4 -> SFT on the first 3, 1 left
        (make_rows(4), [[0, 0], [0, 0], [0, 0], [1, 0]]),
    ]
    for step, (rows, correct) in enumerate(steps):
        for r in rows:
            r.id = f"s{step}-{r.id}"  # which step's prompt each buffered row came from
        plans.append(c.plan(ctx(step), make_batch(rows, correct)))
        sizes.append(c.metrics()["relift_buffer_size"])
    assert sizes == [2, 0, 1, 1]
    assert [[u.kind for u in p] for p in plans] == [["rl"], ["rl", "sft"], ["rl"], ["rl", "sft"]]
    sft1, sft3 = plans[1][1].terms[0], plans[3][1].terms[0]
    assert sft1.preset == "sft" and sft1.source == "demo" and sft1.indices.tolist() == [0, 1, 2]
    assert plans[1][1].optimizer_state == "relift_sft" and plans[1][0].optimizer_state is None  # official 2nd AdamW
    assert [r.id for r in sft1.rows] == ["s1-r1", "s0-r0", "s0-r1"]  # this step's first, then older
    assert [r.id for r in sft3.rows] == ["s3-r0", "s3-r1", "s3-r2"]  # the newest 3 ...
    assert [r.id for r in c.buffer.rows] == ["s2-r0"]  # ... the older one waits
    assert c.metrics()["relift/num_buffered"] == 3 and c.metrics()["relift/sft_step"] == 1
    # every step also trains RL on all its rollouts
    assert all(p[0].terms[0].name == "pg" and p[0].terms[0].source == "rollout" for p in plans)


def test_buffer_survives_state_dict_and_an_epoch():
    c = ReLIFTController(make_config(relift_buffer_size=3))
    c.plan(ctx(0, epoch=0), make_batch(make_rows(2), [[0, 0], [0, 0]]))
    state = copy.deepcopy(c.state_dict())
    d = ReLIFTController(make_config(relift_buffer_size=3))
    d.load_state_dict(state)
    assert [r.demonstration for r in d.buffer.rows] == ["solution 0", "solution 1"]
    # a new epoch does not clear it (official: the buffer outlives the epoch loop): one more failure fills it
    (_, sft) = d.plan(ctx(10, epoch=1), make_batch(make_rows(1), [[0, 0]]))
    assert len(sft.terms[0].rows) == 3 and len(d.buffer) == 0


def test_shared_optimizer_option():
    c = ReLIFTController(make_config(relift_buffer_size=1, relift_separate_optimizer=False))
    (_, sft) = c.plan(ctx(0), make_batch(make_rows(1), [[0, 0]]))
    assert sft.optimizer_state is None


def test_bad_buffer_size_fails():
    with pytest.raises(ValueError, match="relift_buffer_size"):
        ReLIFTController(make_config(relift_buffer_size=0))


# --- the real loop on the tiny model (integration) ---------------------------------------------


def test_relift_buffers_unsolved_prompts_and_runs_sft_when_full(tmp_path):
    # every rollout fails: 2 prompts a step enter the buffer of 3 -> sizes 2, 4 − 3 = 1, 3 − 3 = 0
    t = make_trainer(tmp_path, "relift", "always_zero", relift_buffer_size=3, rl_preset="dr_grpo")
    before = []
    seen = spy_plans(t, lambda data: before.append(weights(t.model)))
    recs = run(t)
    assert [r["relift_buffer_size"] for r in recs] == [2, 1, 0]
    assert [r["relift/sft_step"] for r in recs] == [0, 1, 1] and "sft_loss" not in recs[0]
    rows0, rows1 = seen[0][1].rows, seen[1][1].rows
    sft = seen[1][2][1].terms[0]  # step 1: newest first: step 1's two prompts, then step 0's first
    assert [r.prompt for r in sft.rows] == [rows1[0].prompt, rows1[1].prompt, rows0[0].prompt]
    # all-zero rewards: the RL update's gradient is 0 (and weight decay 0), so the SFT update sees the
    # weights the step started with: its loss is the token-mean NLL of the 3 demonstrations under them
    now = weights(t.model)
    t.model.load_state_dict(before[1])
    logp, _, mask = demo_logprobs(t, sft.rows)
    t.model.load_state_dict(now)
    assert recs[1]["sft_loss"] == pytest.approx(float(-(logp * mask).sum() / mask.sum()), rel=1e-5)
    assert recs[1]["grad_norm/sft"] > 0 and recs[1]["sft_fraction"] == pytest.approx(3 / (3 + 8))


def test_relift_resume_keeps_the_buffer_and_the_sft_optimizer_state(tmp_path):
    """5 steps == 2 steps + checkpoint + resume for 3 more. Buffer 3, 2 failures a step: sizes 2,
    4 − 3 = 1, 3 − 3 = 0, 2, 4 − 3 = 1; the cut leaves one demonstration waiting and the SFT
    update's own AdamW moments (one step old) to carry over."""
    kw = dict(reward="always_zero", relift_buffer_size=3, group_size=2, max_new_tokens=4)
    full = Trainer(make_cfg(tmp_path / "full", "relift", steps=5, **kw))
    full.run()
    Trainer(make_cfg(tmp_path / "part", "relift", steps=2, **kw)).run()
    resumed = Trainer(make_cfg(tmp_path / "part", "relift", steps=5, **kw), resume=tmp_path / "part" / "relift")
    assert resumed.start_step == 2 and len(resumed.controller.buffer) == 1
    sft_state = resumed.optimizer._hybridrl_named_states["relift_sft"]  # restored from the checkpoint
    assert [float(v["step"]) for v in sft_state.values()][:1] == [1.0]
    resumed.run()

    def load(d):
        return [json.loads(l) for l in (d / "relift" / "metrics.jsonl").read_text().splitlines()]

    a, b = load(tmp_path / "full"), load(tmp_path / "part")
    assert [r["relift_buffer_size"] for r in a] == [r["relift_buffer_size"] for r in b] == [2, 1, 0, 2, 1]
    assert [("sft_loss" in r) for r in a] == [("sft_loss" in r) for r in b] == [False, True, True, False, True]
    assert [r["sft_loss"] for r in b if "sft_loss" in r] == pytest.approx([r["sft_loss"] for r in a if "sft_loss" in r],
                                                                         rel=1e-5)
    wf, wr = weights(full.model), weights(resumed.model)
    for k in wf:
        torch.testing.assert_close(wf[k], wr[k], atol=1e-6, rtol=0)
