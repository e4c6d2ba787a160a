"""End-to-end loop behaviour on the tiny model (a few seconds each)."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hybridrl.cli import main
from hybridrl.config import build_config
from hybridrl.training.loop.trainer import Trainer, train

REQUIRED_KEYS = {"step", "reward", "reward_std", "frac_reward_zero_std", "loss", "pg_loss", "sft_fraction",
                 "entropy", "completions/mean_length", "grad_norm", "lr"}


def cfg_of(tiny_args, **kw):
    a = tiny_args(**kw)
    method = a.pop("method", "grpo")
    return build_config(None, {"method": method}, [f"{k}={v}" for k, v in a.items()])


def weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_cli_train_writes_what_it_promises(tmp_path, capsys):
    out = tmp_path / "r"
    rc = main(["train", "--method", "grpo", "--model", "tiny", "--task", "chain_sum", "--steps", "3",
               "--output-dir", str(out), "train_size=16", "eval_size=4", "prompts_per_step=2", "group_size=4",
               "max_new_tokens=8", "progress=false"])
    assert rc == 0
    recs = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in recs] == [1, 2, 3]  # steps completed (TRL's global_step)
    assert REQUIRED_KEYS <= set(recs[0]), REQUIRED_KEYS - set(recs[0])
    # #28 item 4: the update's padding share and achieved FLOP/s (6 N tokens / update time)
    # (null in a step where every micro-batch was skipped: zero advantages)
    ran = [r for r in recs if r["update/forward_tokens"] > 0]
    assert ran and all(0.0 <= r["update/padding_share"] < 1.0 and r["update/flops_per_s"] > 0 for r in ran)
    assert all(r["update/padding_share"] is None and r["update/flops_per_s"] is None for r in recs if r not in ran)
    assert (out / "config.yaml").exists() and "method: grpo" in (out / "config.yaml").read_text()
    assert (out / "summary.json").exists() and (out / "eval.jsonl").exists()
    ck = out / "checkpoints" / "step-000003"
    assert (ck / "COMPLETE").exists()
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(ck / "model")  # HF format, loadable
    assert "held-out greedy accuracy" in capsys.readouterr().out


def test_bad_key_fails_before_model_load(capsys):
    rc = main(["train", "--method", "grpo", "--model", "tiny", "--task", "chain_sum", "grop_size=3"])
    assert rc == 2
    assert "unknown config key 'grop_size'" in capsys.readouterr().err


def test_micro_batching_gives_the_same_update(tiny_args):
    # 8 rollouts in one micro-batch vs four of 2: the summed gradient is the whole-batch one
    finals = []
    for mb in (8, 2):
        t = Trainer(cfg_of(tiny_args, steps=1, micro_batch_size=mb, save_every=0, eval_size=0))
        grads = {}

        def keep_grads(opt, args, kwargs, t=t, grads=grads):
            # the accumulated gradient the optimizer is about to use
            grads.update({n: p.grad.detach().clone() for n, p in t.model.named_parameters() if p.grad is not None})

        t.optimizer.register_step_pre_hook(keep_grads)
        rec = t.step(0)
        finals.append((weights(t.model), rec["loss"], rec["grad_norm"], grads))
    (w1, l1, g1, d1), (w2, l2, g2, d2) = finals
    assert l1 == pytest.approx(l2, abs=1e-6) and g1 == pytest.approx(g2, rel=1e-5)
    assert g1 > 0  # the reward is not constant, so there is a real gradient
    assert d1 and d1.keys() == d2.keys()
    for k in d1:  # the invariant itself: the same gradient, up to fp32 summation order
        torch.testing.assert_close(d1[k], d2[k], atol=1e-7, rtol=1e-5)
    # AdamW's first step is lr·g/(|g|+ε): for a gradient element that nearly cancels over the
    # batch, fp32 rounding of the sum changes the step by a visible fraction of lr (1.5e-6 =
    # 0.15% of lr=1e-3 seen on an AVX-512 CPU), so the weights are compared at 1% of lr
    for k in w1:
        torch.testing.assert_close(w1[k], w2[k], atol=1e-5, rtol=0)


def test_resume_equals_uninterrupted(tiny_args, tmp_path):
    full = Trainer(cfg_of(tiny_args, steps=6, output_dir=str(tmp_path / "full")))
    full.run()
    a = cfg_of(tiny_args, steps=3, output_dir=str(tmp_path / "part"))
    Trainer(a).run()
    b = cfg_of(tiny_args, steps=6, output_dir=str(tmp_path / "part"))
    resumed = Trainer(b, resume=tmp_path / "part")
    assert resumed.start_step == 3
    resumed.run()
    wf, wr = weights(full.model), weights(resumed.model)
    for k in wf:
        torch.testing.assert_close(wf[k], wr[k], atol=1e-6, rtol=0)
    m_full = [json.loads(l) for l in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    m_res = [json.loads(l) for l in (tmp_path / "part" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in m_res] == list(range(1, 7))
    assert [r["reward"] for r in m_res] == [r["reward"] for r in m_full]


def test_constant_reward_means_no_policy_gradient(tiny_args):
    # GRPO: all rewards equal -> every advantage 0 -> zero gradient, weights unchanged
    t = Trainer(cfg_of(tiny_args, steps=1, reward_fn="reward_fns:always_one", eval_size=0))
    w0 = weights(t.model)
    rec = t.step(0)
    assert rec["reward"] == 1.0 and rec["frac_reward_zero_std"] == 1.0
    assert rec["grad_norm"] == 0.0
    for k, v in weights(t.model).items():
        assert torch.equal(v, w0[k])


def test_sft_then_rl_switches_phase_and_reference(tiny_args):
    t = Trainer(cfg_of(tiny_args, method="sft_then_rl", steps=3, sft_then_rl_sft_steps=2, beta=0.1, eval_size=0))
    recs = [t.step(s) for s in range(3)]
    assert [r["sft_fraction"] for r in recs] == [1.0, 1.0, 0.0]
    assert "reward" not in recs[0] and "reward" in recs[2]  # no rollouts during SFT
    assert recs[0]["sft_loss"] > 0
    # at the first RL step the reference became the SFT model: KL starts at 0
    assert recs[2]["kl"] == pytest.approx(0.0, abs=1e-6)


def test_ppo_trains_a_value_head(tiny_args):
    t = Trainer(cfg_of(tiny_args, method="ppo", steps=2, eval_size=0))
    assert t.value_head is not None
    w0 = t.value_head.weight.detach().clone()
    t.step(0)
    t.step(1)
    assert not torch.equal(w0, t.value_head.weight)


@pytest.mark.parametrize("method", ["sft", "dr_grpo", "reinforce", "rloo"])
def test_plain_methods_run(tiny_args, method):
    rec = Trainer(cfg_of(tiny_args, method=method, steps=1, eval_size=0)).step(0)
    assert rec["loss"] == rec["loss"] and rec["grad_norm"] > 0


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_equal_one(tiny_args, tmp_path):
    """accelerate launch --num_processes 2 on CPU == 1 process with the same global batch."""
    outs = {}
    for n in (1, 2):
        out = tmp_path / f"p{n}"
        args = tiny_args(steps=2, output_dir=str(out), eval_size=0, sampling_seed="prompt")
        over = [f"{k}={v}" for k, v in args.items()]
        # on a CPU-only machine `--multi_gpu` is what makes accelerate start n processes (gloo)
        cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(n),
               "--main_process_port", str(_free_port()),
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
               "-m", "hybridrl.cli", "train", "--method", "grpo", *over]
        if n == 1:
            cmd = [sys.executable, "-m", "hybridrl.cli", "train", "--method", "grpo", *over]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr[-3000:]
        recs = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
        assert all(r["reward"] is not None for r in recs)
        from safetensors.torch import load_file

        outs[n] = load_file(str(out / "checkpoints" / "step-000002" / "model" / "model.safetensors"))
    for k in outs[1]:
        torch.testing.assert_close(outs[1][k], outs[2][k], atol=1e-5, rtol=0)


def test_lora_trains_only_the_adapter_and_resumes(tiny_args, tmp_path):
    t = Trainer(cfg_of(tiny_args, steps=2, lora_r=4, lora_alpha=8, eval_size=0, output_dir=str(tmp_path / "l")))
    base = {k: v.clone() for k, v in t.model.state_dict().items() if "lora_" not in k}
    lora0 = {k: v.clone() for k, v in t.model.state_dict().items() if "lora_B" in k}
    assert lora0 and all(float(v.abs().sum()) == 0 for v in lora0.values())  # peft initialises B = 0
    t.run()
    after = t.model.state_dict()
    for k, v in base.items():
        assert torch.equal(after[k], v), k  # the base weights are frozen
    assert any(float(after[k].abs().sum()) > 0 for k in lora0)  # the adapter moved
    r = Trainer(cfg_of(tiny_args, steps=3, lora_r=4, lora_alpha=8, eval_size=0, output_dir=str(tmp_path / "l")),
                resume=tmp_path / "l")
    assert r.start_step == 2
    for k in lora0:
        torch.testing.assert_close(r.model.state_dict()[k], after[k], atol=0, rtol=0)


def test_gradient_checkpointing_and_bf16_run(tiny_args):
    # checkpointing changes memory, not the maths: the first update equals the plain one
    plain = Trainer(cfg_of(tiny_args, steps=1, eval_size=0)).step(0)
    trainer = Trainer(cfg_of(tiny_args, steps=1, eval_size=0, gradient_checkpointing=True))
    model = trainer.model
    on = model.is_activation_checkpointing if hasattr(model, "is_activation_checkpointing") \
        else model.is_gradient_checkpointing
    assert on  # the option reached the model (transformers' new name, or the old one before 5.2x)
    ckpt = trainer.step(0)
    assert ckpt["loss"] == pytest.approx(plain["loss"], abs=1e-6)
    assert ckpt["grad_norm"] == pytest.approx(plain["grad_norm"], rel=1e-5)
    rec = Trainer(cfg_of(tiny_args, steps=1, eval_size=0, bf16=True)).step(0)
    assert rec["grad_norm"] > 0 and rec["loss"] == rec["loss"]


def test_overrides_may_come_before_and_between_options(tmp_path):
    out = tmp_path / "o"
    rc = main(["train", "steps=1", "--method", "grpo", "--model", "tiny", "prompts_per_step=2", "--task", "chain_sum",
               "group_size=2", "train_size=8", "eval_size=0", "max_new_tokens=4", "progress=false",
               "--output-dir", str(out)])
    assert rc == 0
    cfg = (out / "config.yaml").read_text()
    assert "steps: 1\n" in cfg and "prompts_per_step: 2\n" in cfg and "group_size: 2\n" in cfg
    with pytest.raises(SystemExit):
        main(["train", "--method", "grpo", "--bogus-flag"])


def test_skipping_zero_advantage_micro_batches_changes_nothing(tiny_args):
    """A micro-batch (= one group here) whose advantages are all zero is not run forward and
    backward: the weights after 6 steps are those of the run that computes its zero gradient,
    including steps where every micro-batch is skipped (AdamW momentum and weight decay act)."""
    runs = []
    for skip in (True, False):
        t = Trainer(cfg_of(tiny_args, steps=6, skip_zero_advantage=skip, save_every=0, eval_size=0,
                           weight_decay=0.1, reward_fn="reward_fns:even_length_on_odd_prompts"))
        recs = [t.step(s) for s in range(6)]
        runs.append((weights(t.model), recs))
    (w1, r1), (w0, r0) = runs
    skipped = [r["update/skipped_microbatches"] for r in r1]
    assert all(r["update/skipped_microbatches"] == 0 for r in r0)
    assert 2.0 in skipped and max(r["grad_norm"] for r in r1) > 0  # an all-skipped step and real updates
    assert [r["loss"] for r in r1] == pytest.approx([r["loss"] for r in r0], abs=1e-6)
    for k in w1:
        torch.testing.assert_close(w1[k], w0[k], atol=1e-6, rtol=0)


def test_length_order_groups_short_with_short():
    from hybridrl.training.update.terms import LossSettings, TermState, micro_batches, Sequences, Counts
    from hybridrl.methods.base import LossTerm

    mask = torch.tensor([[1, 1, 1, 1], [1, 0, 0, 0], [1, 1, 1, 0], [1, 1, 0, 0.]])
    seqs = Sequences([[1], [1, 2, 3]], torch.tensor([0, 0, 1, 1]), torch.ones(4, 4, dtype=torch.long), mask, None, None)
    term = LossTerm("pg", "grpo", "rollout", torch.arange(4), advantages=torch.tensor([1.0, 0.0, 1.0, 0.0]))
    ts = TermState(term, seqs, Counts(10.0, 4.0))
    s = LossSettings(temperature=1.0, eps_low=None, eps_high=None, dual_clip_c=None, shaping_gamma=1.0,
                     loss_agg_mode=None, max_len=4, beta=0.0, kl_estimator="k1", entropy_coef=0.0, vf_coef=0.0,
                     gae_gamma=1.0, gae_lambda=1.0, cliprange_value=0.2, micro_batch_size=2, old_logprobs="current",
                     autocast=None, micro_batch_order="length")
    # given: [0, 1] 2 × (1 + 4), [2, 3] 2 × (3 + 3) = 22 positions; sorted by (prompt, completion):
    # [1, 0] the same 10, [3, 2] the same 12; by completion: [1, 3] 2 × (3 + 2), [2, 0] 2 × (3 + 4) = 24;
    # by the sum (2, 5, 5, 6): [1, 0] | [3, 2] = 22: no order beats the batch's, which is kept
    assert micro_batches(ts, s) == [slice(0, 2), slice(2, 4)]
    # zero advantages first when their micro-batches are skipped: [1, 3] costs nothing, [0, 2] 2 × (3 + 4)
    # = 14 < given's 22 (neither given micro-batch is all zero)
    assert [b.tolist() for b in micro_batches(ts, s, skippable=True)] == [[1, 3], [0, 2]]
    given = micro_batches(ts, dataclasses.replace(s, micro_batch_order="given"))
    assert given == [slice(0, 2), slice(2, 4)]
