"""hybridrl's hybrid methods inside TRL's ``GRPOTrainer``.

``HybridGRPOTrainer`` keeps everything TRL does around the update (the dataloader and its
``RepeatSampler``, generation, reward functions, ``Trainer``'s optimizer step, clipping,
scheduler, logging and checkpoints) and replaces the update itself by hybridrl's:

    TRL generation batch (P prompts x num_generations completions, scored by the reward funcs)
      -> hybridrl StepData (rows with their ``demonstration`` column, rollouts, rewards, correct)
      -> controller.plan(ctx, data)               (hpt, luffy, superrl, sasr, ... by name)
      -> train.optimize.build_term_states / prepasses / backward_terms    (presets + agg_loss)
      -> Trainer: clip, optimizer.step, scheduler; controller.observe (callback)

So the loss is hybridrl's own code path (``term_loss`` per term, one ``agg_loss`` with the
step's global counts), not a copy of it, and any controller in
``hybridrl.methods.registry.METHODS`` whose plan is one update per step works unchanged
(CHORD, once registered, is one more name).

Departures from plain ``GRPOTrainer`` (each checked at construction, one clear line):

- One generation batch = one optimizer step: ``gradient_accumulation_steps``,
  ``steps_per_generation`` and ``num_iterations`` must be 1. hybridrl's terms reduce with counts
  over the whole step (an HPT step keeps some prompts' rollouts and adds other prompts'
  demonstrations, so the number of sequences changes from step to step and cannot be cut into
  TRL's equal slices); micro-batching happens inside the step (``micro_batch_size``, default
  ``per_device_train_batch_size``), with the same global counts, so it never changes the update.
- One process (hybridrl's own trainer covers DDP / FSDP2).
- ``use_liger_kernel=True`` is refused: in TRL 1.x the Liger path of ``compute_loss`` skips
  ``_compute_loss`` (TRL #6808, #7270), so a subclass overriding the loss silently trained plain
  GRPO. This trainer replaces ``training_step`` and makes ``_compute_loss`` raise, so no code
  path can fall back to TRL's GRPO loss.
- ``correct`` (what HPT's gate counts) = reward >= ``correct_threshold`` (1.0: docs/design.md §2, only a
  full score is correct). TRL's own ``advantages`` are not used: each controller computes its
  method's advantages from the rewards (HPT: Dr. GRPO, LUFFY: over rollouts ∪ demonstrations).
- Methods with more than one update per step (``superrl_per_step``) or a critic (``ppo``) are
  refused; SASR-style SFT steps skip generation (TRL samples nothing on those steps).
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import dataclass
from typing import Any

import torch

TRL_REQUIREMENT = ">=1.16,<2"
"""The TRL versions this module is written and tested against (``pyproject`` extra ``trl``)."""


def check_trl_version(version: str) -> None:
    """Raise ImportError with the fix when ``version`` is outside :data:`TRL_REQUIREMENT`."""
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    if Version(version) not in SpecifierSet(TRL_REQUIREMENT):
        raise ImportError(f"hybridrl.integrations.trl needs trl{TRL_REQUIREMENT}, found trl {version}: "
                          f"pip install 'hybridrl[trl]'")


try:
    import trl
except ModuleNotFoundError as err:  # the extra is not installed (an optional module, like vllm's)
    raise ModuleNotFoundError(f"hybridrl.integrations.trl needs TRL (trl{TRL_REQUIREMENT}): "
                              f"pip install 'hybridrl[trl]'", name="trl") from err
check_trl_version(trl.__version__)

from transformers import TrainerCallback  # noqa: E402
from trl import GRPOTrainer  # noqa: E402

from hybridrl.schema import Row  # noqa: E402
from hybridrl.data.templates import format_demonstration  # noqa: E402
from hybridrl.methods.base import Feedback, StepContext, StepData, Update  # noqa: E402
from hybridrl.methods.registry import build_controller, method_spec  # noqa: E402
from hybridrl.rollout.types import RolloutBatch  # noqa: E402
from hybridrl.config import TrainConfig  # noqa: E402
from hybridrl.training.update.optimize import (Optimization, UpdateResult, backward_terms,  # noqa: E402
                                               build_term_states, log_update, prepasses, weights_now)
from hybridrl.distributed.parallel import Parallel  # noqa: E402
from hybridrl.training.update.terms import (LossSettings, Sequences, UpdateModels, demo_sequences,  # noqa: E402
                                            rollout_sequences)

CONTROLLER_FILE = "hybridrl_controller.pt"
"""The controller's ``state_dict`` in each TRL checkpoint folder (restored on resume)."""

REFUSED_METHODS = {
    "superrl_per_step": "it runs two optimizer updates per step (RL, then weighted SFT); TRL's Trainer runs one",
    "ppo": "it needs a critic (value head) that TRL's GRPOTrainer does not hold",
    "auto": "it hands over to another method mid-run; pick that method directly",
}


def method_config(method: str, args: Any, options: dict[str, Any] | None = None) -> TrainConfig:
    """hybridrl's config for ``method``, built from the ``GRPOConfig`` ``args`` (TRL's names for
    the same quantities, as ``hybridrl.config.ALIASES``) and then ``options`` (any
    ``TrainConfig`` key, a method's options included: ``hpt_gamma``, ``luffy_n_off``, ``group_size``...)."""
    prompts = max(1, args.per_device_train_batch_size // args.num_generations)
    base: dict[str, Any] = dict(
        method=method, model="trl", group_size=args.num_generations, prompts_per_step=prompts,
        micro_batch_size=args.per_device_train_batch_size, max_new_tokens=args.max_completion_length,
        temperature=args.temperature, beta=args.beta, eps_low=args.epsilon,
        eps_high=args.epsilon_high, seed=args.seed, steps=max(1, args.max_steps), lr=args.learning_rate,
        max_grad_norm=args.max_grad_norm, output_dir=args.output_dir, bf16=False, progress=False,
    )
    base.update(method_spec(method).overrides)  # e.g. superrl_theta -> superrl_variant=theta
    base.update(options or {})
    return TrainConfig(**base)


def check_trainer_args(args: Any, method: str) -> None:
    """Refuse, in one line each, the settings this trainer cannot honour (module docstring)."""
    if getattr(args, "use_liger_kernel", False):
        raise ValueError("HybridGRPOTrainer: use_liger_kernel=True is not supported (TRL's Liger loss path skips "
                         "_compute_loss, TRL #6808/#7270, and would train plain GRPO); set use_liger_kernel=False")
    for name in ("gradient_accumulation_steps", "steps_per_generation", "num_iterations"):
        if int(getattr(args, name) or 1) != 1:
            raise ValueError(f"HybridGRPOTrainer: {name} must be 1 (one generation batch = one optimizer step; "
                             f"micro-batch inside the step with method_options={{'micro_batch_size': ...}})")
    if method in REFUSED_METHODS:
        raise ValueError(f"HybridGRPOTrainer: method '{method}' is not supported: {REFUSED_METHODS[method]}")
    if method_spec(method).critic:
        raise ValueError(f"HybridGRPOTrainer: method '{method}' needs a critic, which TRL's GRPOTrainer lacks")


@dataclass
class PendingStep:
    """What one generation batch became: the controller's plan and the data it refers to."""

    ctx: StepContext
    data: StepData
    update: Update
    prompt_ids: list[list[int]]
    """(P) unpadded prompt token ids, as TRL tokenized (and generated from) them."""
    demo_ids: list[list[int]]
    """(P) demonstration token ids + EOS ([] for rows without one)."""


class HybridGRPOTrainer(GRPOTrainer):
    """``GRPOTrainer`` whose update is a hybridrl method's (HPT, LUFFY, SuperRL, SASR, ...).

    Args (besides ``GRPOTrainer``'s):
        method: a name of ``hybridrl.methods.registry.METHODS`` (``hpt``, ``luffy``,
            ``superrl``, ``superrl_theta``, ``sasr``, ``ssr``, ...).
        method_options: ``TrainConfig`` fields for the method (``hpt_variant="mix"``,
            ``luffy_n_off=1``, ``group_size=8``, ``entropy_coef=0.001``, ...). The GRPOConfig
            provides the shared ones (num_generations -> group_size, max_completion_length ->
            max_new_tokens, temperature, beta, epsilon, seed).
        demo_column: dataset column holding each row's demonstration (a worked solution).
        answer_column: dataset column with the reference answer (only used to complete a
            demonstration without a final ``\\boxed{}``, as ``hybridrl train`` does).
        correct_threshold: a completion is correct (for HPT's gate) when its total reward is at
            least this.
        template: hybridrl's demonstration format (``chat`` or ``vanilla``: the text as is, plus
            the final answer when missing; ``r1``: ``...</think><answer>..</answer>``).
    """

    def __init__(self, *args: Any, method: str = "hpt", method_options: dict[str, Any] | None = None,
                 demo_column: str = "demonstration", answer_column: str = "answer", correct_threshold: float = 1.0,
                 template: str = "chat", **kwargs: Any):
        trainer_args = kwargs.get("args", args[2] if len(args) > 2 else None)
        if trainer_args is not None:  # before TRL's __init__, which may act on e.g. use_liger_kernel
            check_trainer_args(trainer_args, method)
        super().__init__(*args, **kwargs)
        check_trainer_args(self.args, method)
        if self.accelerator.num_processes != 1:
            raise ValueError("HybridGRPOTrainer runs on one process; for DDP/FSDP2 use `hybridrl train` "
                             "(accelerate launch -m hybridrl.cli train ...)")
        self.hybrid_config = method_config(method, self.args, method_options)
        self.controller = build_controller(self.hybrid_config)
        self.loss_settings = LossSettings.from_config(self.hybrid_config, autocast=contextlib.nullcontext)
        self.demo_column, self.answer_column = demo_column, answer_column
        self.correct_threshold = float(correct_threshold)
        self.template = template
        self._pending: PendingStep | None = None
        self._rewards: torch.Tensor | None = None
        self._feedback: Feedback | None = None
        self.add_callback(_ObserveController(self))

    # -- the controller's learnable loss weights join the optimizer (SuperRL's s_pg, s_sft) ------
    def create_optimizer(self, model=None):
        optimizer = super().create_optimizer(model) if model is not None else super().create_optimizer()
        extra = self.controller.parameters()
        if extra and not any(p is q for g in optimizer.param_groups for p in g["params"] for q in extra):
            # hybridrl's own optimizer: their own learning rate, no weight decay (training/loop/setup.py)
            optimizer.add_param_group({"params": list(extra), "weight_decay": 0.0,
                                       "lr": self.hybrid_config.loss_weight_lr})
        return optimizer

    # -- generation: TRL samples and scores, the controller plans ----------------------------------
    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        weights = self.reward_weights.to(rewards_per_func.device).unsqueeze(0)
        rewards = (rewards_per_func * weights).nansum(dim=1)  # TRL's own weighted sum
        rewards[torch.isnan(rewards_per_func).all(dim=1)] = 0.0  # unscorable: no reward
        self._rewards = rewards.detach().float().cpu()
        return rewards_per_func

    def _generate_and_score_completions(self, inputs):
        if not self.model.training:  # evaluation: TRL's own path, untouched
            return super()._generate_and_score_completions(inputs)
        n = self.num_generations
        first = inputs[::n]  # RepeatSampler: each prompt n times in a row
        rows = [self._row(x, i) for i, x in enumerate(first)]
        ctx = StepContext(step=int(self.state.global_step), total_steps=int(self.state.max_steps or 1),
                          epoch=int(self.state.epoch or 0), steps_per_epoch=max(1, int(self.state.max_steps or 1)))
        needs = self.controller.needs(ctx)
        rollouts = rewards = correct = None
        if needs.rollouts:
            k = needs.rollouts_per_prompt or self.hybrid_config.group_size
            if k != n:
                raise ValueError(f"method '{self.hybrid_config.method}' samples {k} completions per prompt but "
                                 f"num_generations={n}: set num_generations={k} (or group_size in method_options)")
            out = super()._generate_and_score_completions(inputs)
            pmask = out["prompt_mask"].bool().cpu()
            prompt_ids = [out["prompt_ids"][i * n].cpu()[pmask[i * n]].tolist() for i in range(len(rows))]
            cmask = out["completion_mask"].float().cpu()
            if "tool_mask" in out:
                cmask = cmask * out["tool_mask"].float().cpu()
            rollouts = RolloutBatch(prompt_ids=prompt_ids, prompt_index=torch.arange(len(inputs)) // n,
                                    completion_ids=out["completion_ids"].cpu(), completion_mask=cmask,
                                    logprobs=torch.zeros_like(cmask), texts=[], finish_reasons=[], has_logprobs=False)
            rewards = self._rewards
            correct = rewards >= self.correct_threshold
        else:  # an SFT step (SASR, SSR, ...): nothing to sample
            prompt_ids = [list(p) for p in self._tokenize_prompts([x["prompt"] for x in first])[0]]
        data = StepData(rows=rows, rollouts=rollouts, rewards=rewards, correct=correct,
                        batch_reward_mean=None if rewards is None else float(rewards.mean()))
        updates = self.controller.plan(ctx, data)
        if len(updates) != 1:
            raise RuntimeError(f"HybridGRPOTrainer: method '{self.hybrid_config.method}' planned {len(updates)} "
                               f"updates for one step; TRL's Trainer runs one optimizer step per batch")
        self._pending = PendingStep(ctx, data, updates[0], prompt_ids, [self._demo_ids(r) for r in rows])
        # TRL shuffles and slices this dict; the step itself is held in self._pending
        return {"hybrid_index": torch.arange(len(inputs))}

    def _row(self, x: dict[str, Any], i: int) -> Row:
        answer = x.get(self.answer_column)
        answers = [str(a) for a in answer] if isinstance(answer, list) else [str(answer if answer is not None else "")]
        demo = x.get(self.demo_column)
        return Row(prompt=x["prompt"], answer=answers, demonstration=demo if demo else None,
                   id=str(x["id"]) if x.get("id") is not None else None)

    def _demo_ids(self, row: Row) -> list[int]:
        """The SFT target as ``hybridrl train`` tokenizes it: formatted text + EOS."""
        if not row.demonstration:
            return []
        tok = self.processing_class
        tok = getattr(tok, "tokenizer", tok)  # a processor wraps its tokenizer
        ids = tok(format_demonstration(row, self.template), add_special_tokens=False)["input_ids"]
        return list(ids) + [tok.eos_token_id]

    # -- the update: hybridrl's estimator over the planned terms ---------------------------------
    def _sequences(self, step: PendingStep, term) -> Sequences:
        if term.source == "rollout":
            return rollout_sequences(step.data.rollouts, step.data.rewards, term.indices)
        return demo_sequences(step.prompt_ids, step.demo_ids, term.indices)

    def _optimization(self, model) -> Optimization:
        beta = self.hybrid_config.beta
        ref = self.ref_model if beta > 0 else None
        if beta > 0 and ref is None:
            raise ValueError("HybridGRPOTrainer: beta > 0 needs TRL's reference model (not available with PEFT here)")
        extra = self.controller.parameters()
        return Optimization(models=UpdateModels(model, ref, None), settings=self.loss_settings,
                            optimizer=self.optimizer, policy_params=[p for p in model.parameters() if p.requires_grad],
                            extra_params=extra, par=Parallel(mode="none", device=self.accelerator.device),
                            max_grad_norm=self.args.max_grad_norm, num_iterations=1, max_nonfinite_steps=1)

    def hybrid_backward(self, model, step: PendingStep) -> tuple[torch.Tensor, dict[str, Any]]:
        """Backpropagate the planned update (every term, every micro-batch, the regularizer) into
        the gradients of ``model`` and the controller's weights; returns (loss, metrics record)."""
        opt = self._optimization(model)
        weighting = self.controller.weighting_of(step.update)
        states = build_term_states(step.update.terms, lambda t: self._sequences(step, t), opt.par)
        prepasses(opt, states)
        model.train()
        stats = backward_terms(opt, states, weighting, step.update.terms)
        grads = [p.grad.detach().float().norm() for p in opt.policy_params if p.grad is not None]
        grad_norm = float(torch.linalg.vector_norm(torch.stack(grads))) if grads else 0.0  # before clipping
        reg = weighting.regularizer()
        res = UpdateResult(stats, grad_norm, not math.isfinite(grad_norm), weights_now(weighting, stats),
                           float(reg.detach()) if reg is not None else 0.0)
        record: dict[str, Any] = {}
        log_update(record, step.update, res, opt, weighting)
        self._feedback = Feedback(kind=step.update.kind, grad_norm=grad_norm,
                                  term_losses={n: record.get(f"{n}_loss", 0.0) for n in stats},
                                  skipped=res.skipped)
        return torch.tensor(record["loss"]), record

    def training_step(self, model, inputs, num_items_in_batch=None):
        t0 = time.perf_counter()
        model.train()
        self._prepare_inputs(inputs)  # generation + the controller's plan (self._pending)
        step, self._pending = self._pending, None
        if step is None:
            raise RuntimeError("HybridGRPOTrainer: no planned step (generation did not run)")
        with self.compute_loss_context_manager():
            loss, record = self.hybrid_backward(model, step)
        self._step += 1
        metrics = self._metrics["train"]
        for key, value in record.items():
            if key not in ("loss", "grad_norm", "entropy") and _number(value):
                metrics[key].append(float(value))
        if record.get("entropy") is not None:
            metrics["entropy"].append(float(record["entropy"]))
        metrics["step_time"].append(time.perf_counter() - t0)
        return loss.detach().to(self.args.device)

    # -- checkpoints: the controller's state next to TRL's (HPT exclusions, SuperRL switch, SASR rng)
    def _save_checkpoint(self, model, trial):
        super()._save_checkpoint(model, trial)
        if self.args.should_save:
            folder = os.path.join(self._get_output_dir(trial=trial), f"checkpoint-{self.state.global_step}")
            torch.save(self.controller.state_dict(), os.path.join(folder, CONTROLLER_FILE))

    def _load_optimizer_and_scheduler(self, checkpoint):
        super()._load_optimizer_and_scheduler(checkpoint)
        path = os.path.join(checkpoint, CONTROLLER_FILE) if checkpoint is not None else None
        if path is not None and os.path.exists(path):
            self.controller.load_state_dict(torch.load(path, weights_only=True))

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        raise NotImplementedError("HybridGRPOTrainer computes its loss in training_step (hybrid_backward); "
                                  "compute_loss is not used")

    def _compute_loss(self, model, inputs):
        raise NotImplementedError("HybridGRPOTrainer never uses TRL's GRPO loss (_compute_loss)")


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))


class _ObserveController(TrainerCallback):
    """After each optimizer step: the controller's feedback (SASR's grad norm, SuperRL's
    projection of its weights) and its state into TRL's logs under hybridrl's names."""

    def __init__(self, trainer: HybridGRPOTrainer):
        self.trainer = trainer

    def on_step_end(self, args, state, control, **kwargs):
        tr = self.trainer
        if tr._feedback is not None:
            ctx = StepContext(step=int(state.global_step) - 1, total_steps=int(state.max_steps or 1),
                              epoch=int(state.epoch or 0), steps_per_epoch=max(1, int(state.max_steps or 1)))
            tr.controller.observe(ctx, tr._feedback)
            tr._feedback = None
        for key, value in tr.controller.metrics().items():
            if _number(value):
                tr._metrics["train"][key].append(float(value))
            elif isinstance(value, bool):
                tr._metrics["train"][key].append(float(value))
        return control
