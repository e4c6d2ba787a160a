"""HybridGRPOTrainer (hybridrl.integrations.trl) against the real TRL, on the tiny model (CPU).

Skipped when TRL is not installed (`make test-trl` installs it in its own venv).

1. Equality: for one fixed batch (TRL's own generation, then frozen), the subclass's loss and
   gradients equal hybridrl's own update path (``train.optimize.run_update`` with hybridrl's own
   tokenization of the prompts and demonstrations, a fresh controller replaying the same steps).
   The figures (max |Δ loss|, max |Δ grad|) are printed per method (``pytest -s``).
2. Three optimizer steps of each hybrid through ``trainer.train()``, with the controller state in
   TRL's log history under hybridrl's names.
3. The refusals (Liger kernel, gradient accumulation) and the version check.
"""

from __future__ import annotations

import contextlib
import math

import pytest
import torch

pytest.importorskip("trl")
from datasets import Dataset  # noqa: E402
from trl import GRPOConfig  # noqa: E402

from hybridrl.data.templates import format_demonstration  # noqa: E402
from hybridrl.integrations.trl import HybridGRPOTrainer, check_trl_version  # noqa: E402
from hybridrl.methods.registry import build_controller  # noqa: E402
from hybridrl.models.tiny import build_tiny_model, build_tiny_tokenizer  # noqa: E402
from hybridrl.training.update.optimize import Optimization, run_update  # noqa: E402
from hybridrl.distributed.parallel import Parallel  # noqa: E402
from hybridrl.training.update.terms import LossSettings, UpdateModels, demo_sequences, rollout_sequences  # noqa: E402

N = 4  # completions per prompt (TRL's num_generations)
ALWAYS_SPARSE = {"superrl_k": 1, "superrl_increase_threshold": 100, "superrl_avg_threshold": 10.0}
# case -> (method, options, plans before the compared one, metric the controller must log)
CASES = {
    "hpt": ("hpt", {}, 0, "sft_fraction"),
    "hpt_off": ("hpt", {"hpt_variant": "off"}, 0, "off_fraction"),
    "hpt_mix": ("hpt", {"hpt_variant": "mix"}, 0, "sft_fraction"),
    "luffy": ("luffy", {"group_size": N + 1}, 0, "offline_fraction"),  # N rollouts + 1 demonstration
    "superrl": ("superrl", ALWAYS_SPARSE, 1, "sigma_pg"),  # plan 1 probes and decides, plan 2 is hybrid
    "superrl_theta": ("superrl_theta", ALWAYS_SPARSE, 1, "w_pg"),
    "sasr_sft": ("sasr", {"sasr_warmup_steps": 1}, 0, "sasr_p"),  # warm-up: an SFT step
    "ssr_rl": ("ssr", {}, 1, "sft_fraction"),  # step 0 SFT, step 1 GRPO: the switch's RL step
}


def reward(prompts, completions, **kw):
    """1 for an 'easy' prompt's completion whose character codes sum to an even number, else 0:
    the 'hard' prompt's group is all wrong (HPT gates it to SFT), the 'easy' one mixed."""
    return [1.0 if "easy" in p[0]["content"] and sum(map(ord, c[0]["content"])) % 2 == 0 else 0.0
            for p, c in zip(prompts, completions)]


ROWS = [{"prompt": [{"role": "user", "content": "hard: 3+4?"}], "answer": "7", "demonstration": "3+4=7 \\boxed{7}"},
        {"prompt": [{"role": "user", "content": "easy: 1+1?"}], "answer": "2", "demonstration": "1+1 is 2"}]


def make_trainer(tmp_path, method, options, steps=3, **args):
    tok = build_tiny_tokenizer()
    model = build_tiny_model(tok, seed=0)
    args = {"save_strategy": "no", **args}
    cfg = GRPOConfig(output_dir=str(tmp_path), per_device_train_batch_size=2 * N, num_generations=N,
                     max_completion_length=8, max_steps=steps, learning_rate=1e-2, logging_steps=1, report_to="none",
                     use_cpu=True, seed=0, beta=0.0, **args)
    return HybridGRPOTrainer(model=model, reward_funcs=reward, args=cfg, train_dataset=Dataset.from_list(ROWS),
                             processing_class=tok, method=method, method_options=options)


def hybridrl_update(trainer, pending_steps):
    """hybridrl's own path for the last of ``pending_steps``: a fresh controller replays the
    steps, hybridrl tokenizes the prompts and demonstrations itself, ``run_update`` (SGD at
    lr 0: the gradients stay, the weights do not move) gives loss and gradients."""
    tok = trainer.processing_class
    cfg = trainer.hybrid_config
    controller = build_controller(cfg)
    for st in pending_steps:
        controller.needs(st.ctx)
        updates = controller.plan(st.ctx, st.data)
    update, data = updates[0], pending_steps[-1].data
    model = build_tiny_model(tok, seed=0)  # the same weights as the trainer's (nothing stepped)
    params = list(model.parameters())
    opt = Optimization(models=UpdateModels(model, None, None),
                       settings=LossSettings.from_config(cfg, contextlib.nullcontext),
                       optimizer=torch.optim.SGD(params + controller.parameters(), lr=0.0), policy_params=params,
                       extra_params=controller.parameters(), par=Parallel(mode="none"), max_grad_norm=0.0,
                       num_iterations=1, max_nonfinite_steps=3)
    prompt_ids = [tok.apply_chat_template(r.prompt, add_generation_prompt=True, tokenize=True, return_dict=True)
                  ["input_ids"] for r in data.rows]
    demo_ids = [tok(format_demonstration(r, "chat"), add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
                for r in data.rows]

    def sequences_of(term):
        if term.source == "rollout":
            return rollout_sequences(data.rollouts, data.rewards, term.indices)
        return demo_sequences(prompt_ids, demo_ids, term.indices)

    record: dict = {}
    run_update(opt, update, controller.weighting_of(update), sequences_of, record)
    grads = {n: p.grad for n, p in model.named_parameters()}
    extra = [p.grad for p in controller.parameters()]
    return update, record["loss"], grads, extra


@pytest.mark.parametrize("case", list(CASES))
def test_loss_and_gradients_equal_hybridrl_update(tmp_path, case):
    method, options, warm, _ = CASES[case]
    trainer = make_trainer(tmp_path, method, options)
    trainer.create_optimizer()
    trainer.model.train()
    batch = next(iter(trainer.get_train_dataloader()))  # P * N rows, each prompt N times
    steps = []
    for i in range(warm + 1):
        trainer.state.global_step = i
        trainer._generate_and_score_completions(batch)
        steps.append(trainer._pending)
    loss, _ = trainer.hybrid_backward(trainer.model, steps[-1])
    ours = {n: p.grad for n, p in trainer.model.named_parameters()}
    ours_extra = [p.grad for p in trainer.controller.parameters()]

    update, ref_loss, ref_grads, ref_extra = hybridrl_update(trainer, steps)
    assert [(t.name, t.preset, t.indices.tolist()) for t in steps[-1].update.terms] == \
        [(t.name, t.preset, t.indices.tolist()) for t in update.terms]
    # the batch exercises the method: every planned term trains something
    assert all(len(t.indices) for t in update.terms), [(t.name, len(t.indices)) for t in update.terms]
    d_loss = abs(float(loss) - ref_loss)
    d_grad = max(float((ours[n] - ref_grads[n]).abs().max()) for n in ref_grads)
    for a, b in zip(ours_extra, ref_extra):
        if a is not None or b is not None:
            d_grad = max(d_grad, float((a - b).abs().max()))
    print(f"\n[trl-equality] {case}: terms={[(t.name, len(t.indices)) for t in update.terms]} "
          f"loss={float(loss):.6f} max|Δloss|={d_loss:.3g} max|Δgrad|={d_grad:.3g}")
    assert math.isfinite(float(loss)) and max(float(g.abs().max()) for g in ref_grads.values()) > 0  # it trains
    assert d_loss <= 1e-6 and d_grad <= 1e-6


def test_hpt_batch_is_gated_both_ways(tmp_path):
    """The fixed batch above holds one gated prompt (all wrong: SFT on its demonstration) and
    one RL prompt (mixed rewards), so the HPT equality covers both branches of the gate."""
    trainer = make_trainer(tmp_path, "hpt", {})
    trainer.model.train()
    trainer._generate_and_score_completions(next(iter(trainer.get_train_dataloader())))
    m = trainer.controller.metrics()
    assert (m["hpt/num_sft"], m["hpt/num_rl"]) == (1, 1)
    # sample share: 1 demonstration / (1 demonstration + N kept rollouts)
    assert m["sft_fraction"] == pytest.approx(1 / (1 + N))


@pytest.mark.parametrize("case", list(CASES))
def test_three_steps_through_trainer(tmp_path, case):
    method, options, _, metric = CASES[case]
    trainer = make_trainer(tmp_path, method, options, steps=3)
    before = [p.detach().clone() for p in trainer.controller.parameters()]
    trainer.train()
    logs = [h for h in trainer.state.log_history if "loss" in h and "train_loss" not in h]
    assert [h["step"] for h in logs] == [1, 2, 3]
    assert all(math.isfinite(h["loss"]) for h in logs)
    assert all(metric in h for h in logs), [sorted(h) for h in logs]
    if method == "superrl":  # probe step, then the Hybrid Actor: its weights are trained by TRL's optimizer
        assert logs[0]["sft_fraction"] == 0.0 and logs[1]["sft_fraction"] > 0.0
        assert logs[0]["sigma_pg"] == 1.0 and logs[2]["sigma_pg"] != 1.0
        assert float(trainer.controller.s_pg.detach()) != float(before[0])
    if method == "sasr":  # warm-up SFT step: p = 1
        assert logs[0]["sasr_p"] == 1.0 and logs[0]["sft_fraction"] == 1.0
    if method == "ssr":  # alternates SFT, RL, SFT
        assert [h["sft_fraction"] for h in logs] == [1.0, 0.0, 1.0]


def test_controller_state_is_checkpointed_and_restored(tmp_path):
    """SuperRL's switch decision and learnable σ survive a TRL checkpoint (resume path)."""
    trainer = make_trainer(tmp_path / "a", "superrl", ALWAYS_SPARSE, steps=2, save_strategy="steps", save_steps=2)
    trainer.train()
    ckpt = tmp_path / "a" / "checkpoint-2"
    assert (ckpt / "hybridrl_controller.pt").exists()
    fresh = make_trainer(tmp_path / "b", "superrl", ALWAYS_SPARSE, steps=2)
    fresh.create_optimizer_and_scheduler(num_training_steps=2)
    fresh._load_optimizer_and_scheduler(str(ckpt))
    assert fresh.controller.switch.decision == "sparse"
    assert float(fresh.controller.s_pg.detach()) == float(trainer.controller.s_pg.detach()) != 0.0


def test_liger_kernel_is_refused(tmp_path):
    with pytest.raises(ValueError, match="use_liger_kernel=True is not supported"):
        make_trainer(tmp_path, "hpt", {}, use_liger_kernel=True)


def test_gradient_accumulation_is_refused(tmp_path):
    with pytest.raises(ValueError, match="gradient_accumulation_steps must be 1"):
        make_trainer(tmp_path, "hpt", {}, gradient_accumulation_steps=2)


def test_two_update_method_is_refused(tmp_path):
    with pytest.raises(ValueError, match="superrl_per_step"):
        make_trainer(tmp_path, "superrl_per_step", {})


def test_version_check_names_the_fix():
    check_trl_version("1.16.0")
    with pytest.raises(ImportError, match=r"hybridrl\[trl\]"):
        check_trl_version("0.19.1")
    with pytest.raises(ImportError, match="trl>=1.16,<2"):
        check_trl_version("2.0.0")
