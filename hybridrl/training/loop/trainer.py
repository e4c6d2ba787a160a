"""The one training loop (docs/design.md §1). It never branches on the method's name.

step:  prompts -> controller.needs -> n rollouts each -> verified rewards -> controller.plan
       -> for each update: per-term losses (estimator presets), one aggregation -> optimizer step
          (``training/update/optimize.py``, ``training/update/terms.py``)
       -> controller.observe -> metrics.jsonl / progress / checkpoints

The pieces: ``training/loop/setup.py`` builds the run's objects (processes, data, model,
value head, optimizer), ``training/update/optimize.py`` turns one update into optimizer steps,
``training/update/terms.py`` one term into forward/backward passes, ``training/persistence/``
writes the run folder. A term's preset owns its pre-pass (PPO's critic, ...) through
``terms.prepare_term``; the loop calls it for every term alike.

Where this loop departs from the usual trainer (TRL's, verl's), on purpose:

- **DDP / FSDP2 with uneven micro-batches.** Multi-process (``accelerate launch``): every
  process draws the same global batch of prompts and keeps its shard (``rows[rank::world]``);
  groups never straddle processes, so group statistics stay per prompt. Token/sequence counts
  of every term are summed over processes before the loss is formed; the policy trains
  through PyTorch's DDP or FSDP2 (``parallel`` config key, ``distributed/parallel.py``), which sum its
  gradients; ranks agree on the number of micro-batches per term and pad with zero-weight
  passes (HPT's gate splits terms unevenly), so the update is exactly the one-process update
  of the global batch. FSDP2 generates, evaluates and runs forward-only pre-passes on
  gathered weights; checkpoints are sharded (DCP) plus a consolidated HF export.
- **Per-term normalisers with global counts**, not one mean per micro-batch: each loss term
  (SFT, on-policy RL, off-policy RL) is reduced by its own aggregation mode with the counts
  of the whole step, so micro-batching never changes the update (``training/update/terms.py``).
- **The zero-advantage skip**: micro-batches whose loss has exactly zero gradient are not run
  (``skip_zero_advantage``, logged as ``update/skipped_microbatches``).
- **Non-finite updates are skipped**, not applied: weights and optimizer state stay as they
  were, and ``max_nonfinite_steps`` in a row stop the run with the last good state saved.
- **Several updates per step** when the controller plans them (SuperRL per_step, SASR's
  choice of SFT or RL), each its own optimizer step; the scheduler steps once per step.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import torch

from hybridrl.methods.base import Controller, Feedback, LossTerm, StepContext, StepData, Update
from hybridrl.methods.registry import build_controller
from hybridrl.training.persistence import checkpoint as ckpt
from hybridrl.training.persistence import run_state
from hybridrl.training.loop import interrupt
from hybridrl.config import TrainConfig, config_to_dict
from hybridrl.training.persistence.records import rollout_metrics, run_summary
from hybridrl.training.update.optimize import Optimization, TrainingAborted, run_update
from hybridrl.training.update.optimizer_states import install_named_states
from hybridrl.training.loop.setup import (autocast_factory, init_distributed, pick_device, setup_model,
                                          setup_optimizer, setup_value_head)
from hybridrl.training.update.terms import LossSettings, Sequences, UpdateModels, demo_sequences, rollout_sequences

__all__ = ["Trainer", "TrainingAborted", "train"]


def _note(msg: str) -> None:
    """A one-line note to the user (stderr, as the CLI's other notes)."""
    import sys

    print(msg, file=sys.stderr, flush=True)


class Trainer:
    """Holds the run's objects; :meth:`run` is the loop. Built by :func:`train`.

    ``controller``: the method to run (default: the one ``cfg.method`` names); the probe
    passes its own. It must exist before the optimizer, which trains its loss weights.
    """

    def __init__(self, cfg: TrainConfig, resume: str | Path | None = None, controller: Controller | None = None):
        self.cfg = cfg
        self.par = init_distributed(cfg.parallel)
        self.run_dir = Path(cfg.output_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._setup_data()  # first: bad rows fail before any model loads
        torch.manual_seed(cfg.seed)
        self.device = pick_device(self.par)
        self.controller = controller if controller is not None else build_controller(cfg)
        self._setup_model()
        self._setup_optimizer()
        self._setup_rollout()
        self.start_step = 0
        self.total_steps = cfg.steps
        if resume is not None:
            self._resume(Path(resume))
        self._write_config()

    # -- setup -----------------------------------------------------------------------
    def _setup_data(self) -> None:
        from hybridrl.training.loop.data_setup import load_train_eval_rows
        from hybridrl.training.loop.sampler import PromptSampler

        self.train_rows, self.eval_rows, self.data_stats = load_train_eval_rows(self.cfg)
        self.sampler = PromptSampler(self.train_rows, self.cfg.prompts_per_step, self.cfg.seed)

    def _setup_model(self) -> None:
        parts = setup_model(self.cfg, self.device, self.par)
        self.model, self.tokenizer, self.ref_model = parts.model, parts.tokenizer, parts.ref_model
        self.value_head = setup_value_head(self.cfg, self.model, self.controller, self.device)
        # the engine (DDP / FSDP2; nothing on one process); the value head and the learnable loss
        # weights stay replicated, their gradients summed once (optimize.backward_terms)
        self.rollout_copy = None
        self._rollout_template = None
        if self.par.mode == "fsdp2":
            from hybridrl.distributed.parallel import RolloutCopy

            if self.cfg.rollout_weights == "copy":
                self.rollout_copy = RolloutCopy(self.model)
            elif self._rollout_copies_weights():
                # HF rollouts from a bf16/int8 copy: the copy is made from a plain model (FSDP2's
                # sharded modules cannot be deep-copied), filled with full weights once sharded
                self._rollout_template = RolloutCopy(self.model)
        self.model = self.par.wrap(self.model, bf16=self.cfg.bf16, from_rank0=parts.from_rank0)
        if self.ref_model is not None:
            self.ref_model = self.par.wrap_frozen(self.ref_model, bf16=self.cfg.bf16, from_rank0=parts.from_rank0)
        if self.rollout_copy is not None and parts.from_rank0:
            self.rollout_copy.materialise(self.par, self.model)  # ranks > 0 copied a meta model
        if self._rollout_template is not None:
            self._rollout_template.materialise(self.par, self.model)  # full weights (a gather)

    def _rollout_copies_weights(self) -> bool:
        """The HF engine samples from a lower-precision copy (``rollout_dtype`` bf16 / int8)."""
        from hybridrl.rollout.factory import choose_engine
        from hybridrl.rollout.machine import native_bf16
        from hybridrl.rollout.precision import choose_rollout_dtype

        engine, _ = choose_engine(self.cfg.rollout_engine, self.model)
        # the run's device, not the model's: ranks > 0 may hold it on the meta device (rank0_loading)
        dtype, _ = choose_rollout_dtype(self.cfg.rollout_dtype, cuda=self.device.type == "cuda",
                                        native_bf16=native_bf16(),
                                        int8_kernel=hasattr(torch, "_weight_int8pack_mm"))
        return engine == "hf" and dtype != "fp32"

    def _setup_optimizer(self) -> None:
        cfg = self.cfg
        # the policy's parameters, whole (FSDP2's DTensors count their global size; tied weights once)
        self._num_params = sum(p.numel() for p in self.par.unwrap(self.model).parameters())
        parts = setup_optimizer(cfg.optimizer, self.model, self.controller.parameters(), self.value_head, steps=cfg.steps,
                                loss_weight_lr=cfg.loss_weight_lr, critic_lr=cfg.critic_lr)
        self.optimizer, self.scheduler = parts.optimizer, parts.scheduler
        install_named_states(self.optimizer)  # separate states by name (before a resume loads them)
        self.opt = Optimization(
            models=UpdateModels(self.model, self.ref_model, self.value_head),
            settings=LossSettings.from_config(cfg, autocast_factory(cfg, self.device)),
            optimizer=parts.optimizer, policy_params=parts.policy_params, extra_params=parts.extra_params,
            par=self.par, max_grad_norm=cfg.max_grad_norm, num_iterations=cfg.num_iterations,
            max_nonfinite_steps=cfg.max_nonfinite_steps, after_step=self._policy_updated,
            mini_batches=cfg.mini_batches)

    def _setup_rollout(self) -> None:
        from hybridrl.data.templates import format_demonstration, format_prompt
        from hybridrl.rollout.factory import build_generator

        cfg, tok = self.cfg, self.tokenizer
        # HF generate runs on the plain model: DDP's inner module, FSDP2's inside `_full_weights`
        plain = (self.rollout_copy.module if self.rollout_copy is not None
                 else self._rollout_template.module if self._rollout_template is not None
                 else self.par.unwrap(self.model))
        self.generator = build_generator(cfg.rollout, plain, tok, log=_note if self.par.main else None,
                                         bf16=cfg.bf16, seed=cfg.seed)
        self._rollout_template = None  # the generator made its own copy
        precision = getattr(self.generator, "precision", "fp32")
        if precision != "fp32" and not self.opt.settings.vllm_importance_sampling_correction:
            # rollouts at another precision than training: truncated importance sampling, as for vLLM
            self.opt.settings = dataclasses.replace(self.opt.settings, vllm_importance_sampling_correction=True)
            if self.par.main:
                _note(f"hybridrl: rollouts at {precision}, training in fp32: truncated importance sampling on "
                      f"(cap {self.opt.settings.vllm_importance_sampling_clip_max})")
        self.format_prompt = lambda row: format_prompt(row, cfg.template, tok)
        self.format_demo = lambda row: format_demonstration(row, cfg.template)
        self._prompt_cache: dict[str, list[int]] = {}
        self._demo_cache: dict[str, list[int]] = {}
        self._check_prompt_lengths()

    def _check_prompt_lengths(self) -> None:
        """Every prompt (after the template) fits ``max_prompt_length`` (default: the model's
        context minus ``max_new_tokens``), else the run stops before its first step (an
        8,099-token prompt once trained silently on a 4,096-token model). The longest is recorded
        in the data summary."""
        from hybridrl.config import ConfigError

        cfg = self.cfg
        limit = cfg.max_prompt_length
        if limit is None:
            ctx = getattr(self.par.unwrap(self.model).config, "max_position_embeddings", None)
            limit = ctx - cfg.max_new_tokens if isinstance(ctx, int) else None
        rows = list(self.train_rows) + list(self.eval_rows)
        lengths = [(r, len(self.prompt_ids(r))) for r in rows]
        self.data_stats["prompt_tokens_max"] = max((n for _, n in lengths), default=0)
        if limit is None:
            return
        long = [(r, n) for r, n in lengths if n > limit]
        self.data_stats["prompts_over_max_prompt_length"] = len(long)
        if long:
            r, n = max(long, key=lambda x: x[1])
            why = ("max_prompt_length" if cfg.max_prompt_length is not None
                   else f"the model's context minus max_new_tokens={cfg.max_new_tokens}")
            raise ConfigError(f"{len(long)} of {len(rows)} prompts are longer than {limit} tokens ({why}); the longest, "
                              f"id {r.id}, has {n}. Prompts are never truncated: shorten or drop them, or lower "
                              f"max_new_tokens")

    def _policy_updated(self) -> None:
        """After every optimizer step: engines that keep their own copy of the weights sync them."""
        if self.rollout_copy is not None:
            self.rollout_copy.refresh(self.par, self.model)
        hook = getattr(self.generator, "on_policy_updated", None)
        if hook is not None:  # FSDP2: full weights, gathered lazily by every rank at its next generate
            hook((lambda: self.par.full_state_dict(self.model)) if self.par.mode == "fsdp2"
                 else self.par.unwrap(self.model))

    def _full_weights(self):
        """Context for generating with HF on the policy: FSDP2 gathers the shards for its duration
        (``rollout_weights=gather``); otherwise the weights are already whole."""
        from hybridrl.rollout.generator import HFGenerator

        if self.rollout_copy is None and isinstance(self.generator, HFGenerator) \
                and not getattr(self.generator, "owns_weights", False):
            return self.par.gathered(self.model)
        return contextlib.nullcontext(self.par.unwrap(self.model))

    @property
    def nonfinite(self) -> int:
        """Consecutive updates skipped for a non-finite loss or gradient."""
        return self.opt.nonfinite

    # -- tokenization ----------------------------------------------------------------
    def _key(self, row) -> str:
        return row.id or json.dumps(row.prompt, sort_keys=True)

    def prompt_ids(self, row) -> list[int]:
        k = self._key(row)
        if k not in self._prompt_cache:
            self._prompt_cache[k] = self.tokenizer(self.format_prompt(row), add_special_tokens=False)["input_ids"]
        return self._prompt_cache[k]

    def demo_ids(self, row) -> list[int]:
        k = self._key(row)
        if k not in self._demo_cache:
            ids = self.tokenizer(self.format_demo(row), add_special_tokens=False)["input_ids"]
            self._demo_cache[k] = ids + [self.tokenizer.eos_token_id]  # the model learns to stop
        return self._demo_cache[k]

    # -- resume / checkpoints (training/persistence/run_state.py) -------------------------------------
    def _write_config(self) -> None:
        run_state.write_config(self)

    def _resume(self, path: Path) -> None:
        run_state.resume(self, path)

    def save(self, step: int) -> Path | None:
        """Checkpoint after ``step`` steps (one process: rank 0 writes; DDP/FSDP2: every rank)."""
        return run_state.save(self, step)

    # -- one step --------------------------------------------------------------------
    def _shard(self, rows: list) -> list:
        return rows[self.par.rank:: self.par.world]

    def step(self, step: int) -> dict[str, Any]:
        from hybridrl.rewards.scoring import score_completions

        cfg, t0 = self.cfg, time.time()
        # the batch is drawn first so that ctx.epoch is the epoch of this step's prompts
        global_rows, epoch = self.sampler.next(self.controller.excluded_ids())
        ctx = StepContext(step=step, total_steps=self.total_steps, epoch=epoch,
                          steps_per_epoch=self.sampler.steps_per_epoch)
        needs = self.controller.needs(ctx)
        rows = self._shard(global_rows)
        if needs.reset_reference and self.ref_model is not None:
            self.par.copy_weights(self.model, self.ref_model)
        # `step` in every record = steps completed once this one is done (TRL's global_step), as in
        # eval.jsonl and checkpoint names; the controllers' StepContext counts from 0
        record: dict[str, Any] = {"step": step + 1, "epoch": epoch}
        rollouts = rewards = correct = None
        reward_mean = None
        if needs.rollouts:
            k = needs.rollouts_per_prompt or cfg.group_size
            tg = time.time()
            rollouts = self._generate(rows, k, step, needs.demo_prefix, record)
            record["time/generate"] = time.time() - tg
            tr = time.time()
            sample_rows = [rows[int(i)] for i in rollouts.prompt_index]
            results, counts = score_completions(rollouts.texts, sample_rows, timeout_s=cfg.reward_timeout,
                                                reward_fn=cfg.reward_fn)
            record["time/reward"] = time.time() - tr
            # a reward that fails on every sample would train on zeros: stop instead (a broken reward)
            failed, total = self.par.sum([float(sum(r.error is not None for r in results)), float(len(results))])
            if total and failed == total:
                first = next((r.error for r in results if r.error), "?")
                raise TrainingAborted(f"every one of the {int(total)} samples of step {step + 1} failed to score "
                                      f"(first error: {first}); check reward_fn={cfg.reward_fn or 'the task verifier'}")
            rewards = torch.tensor([r.score for r in results], dtype=torch.float32)
            correct = torch.tensor([r.correct for r in results], dtype=torch.bool)
            record.update(self._rollout_metrics(rollouts, rewards, correct, rows, counts))
            reward_mean = record["reward"]
        data = StepData(rows=rows, rollouts=rollouts, rewards=rewards, correct=correct,
                        batch_reward_mean=reward_mean)
        interrupt.active().check()  # SIGINT/SIGTERM so far: abandon the step (nothing updated yet)
        updates = self.controller.plan(ctx, data)
        tu = time.time()
        for update in updates:
            fb = self._run_update(update, data, record)
            self.controller.observe(ctx, fb)
        record["time/update"] = time.time() - tu
        record["update/flops_per_s"] = None  # null when no micro-batch ran
        if record.get("update/forward_tokens") and record["time/update"] > 0:
            # the update's throughput: achieved FLOP/s (all ranks), the usual estimate 6 · N · tokens
            # (forward 2N + backward 4N per token position, padding included; the forward-only
            # passes — KL reference, frozen old log-probs — and attention are not counted)
            record["update/flops_per_s"] = 6.0 * self._num_params * record["update/forward_tokens"] / record["time/update"]
        weights = getattr(self.generator, "weights", None)
        if weights is not None and weights.refreshes:  # the rollout copy's refresh (rollout_dtype bf16/int8)
            record["time/rollout_refresh"] = weights.last_refresh_s
        record["lr"] = self.scheduler.get_last_lr()[0]  # the lr this step's updates used
        self.scheduler.step()
        record.update(self.controller.metrics())
        record["step_time"] = time.time() - t0
        return record

    def _generate(self, rows: list, k: int, step: int, prefix=None, record: dict[str, Any] | None = None):
        """k completions per row; with a ``PrefixPlan`` from prompt + a demonstration prefix."""
        prompts = [self.prompt_ids(r) for r in rows]
        prefixes = None
        if prefix is not None:  # demonstration-prefix rollouts (rollout/prefix.py)
            from hybridrl.rollout.prefix import metrics_from_sums, prefix_lengths, prefix_sums

            demos = [self.demo_ids(r)[:-1] if r.demonstration else [] for r in rows]  # without the EOS
            lengths = prefix_lengths(prefix, [len(d) for d in demos],
                                     [self.par.rank + i * self.par.world for i in range(len(rows))])
            prefixes = [d[:n] for d, n in zip(demos, lengths)]
            prompts = [p + x for p, x in zip(prompts, prefixes)]
            if record is not None:
                # summed over processes: the step's global prefix statistics
                record.update(metrics_from_sums(self.par.sum(prefix_sums(lengths, [len(d) for d in demos]))))
        batch = self._sample(prompts, k, step)
        if prefixes is not None:
            from hybridrl.rollout.prefix import with_prefixes

            batch = with_prefixes(batch, prefixes, self.tokenizer)
        return batch

    def _sample(self, prompts: list[list[int]], k: int, step: int):
        from hybridrl.rollout.types import SamplingParams, concat_rollouts

        cfg = self.cfg
        base = (cfg.seed * 1_000_003 + step) * 4096

        def params(seed: int) -> SamplingParams:
            return SamplingParams(n=k, max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature,
                                  top_p=cfg.top_p, top_k=cfg.top_k, min_new_tokens=cfg.min_new_tokens, seed=seed,
                                  # read by the `sampling` denominator, the rollout IS correction and the
                                  # mismatch metric (free with vLLM, whose log-probs are not ours)
                                  return_logprobs=cfg.old_logprobs == "sampling"
                                  or self.opt.settings.vllm_importance_sampling_correction  # on for bf16/int8 copies
                                  or getattr(self.generator, "logprobs_are_cheap", False))

        with self._full_weights():
            if cfg.sampling_seed == "prompt":
                # global position of each local prompt: rows are rows_global[rank::world]
                return concat_rollouts([
                    self.generator.generate([p], params(base + self.par.rank + i * self.par.world))
                    for i, p in enumerate(prompts)])
            return self.generator.generate(prompts, params(base + self.par.rank))

    def _rollout_metrics(self, rollouts, rewards, correct, rows, counts) -> dict[str, Any]:
        out, group_acc = rollout_metrics(rollouts, rewards, correct, rows, counts, self.par)
        if group_acc is not None:
            self._group_acc = group_acc
        return out

    def _sequences(self, term: LossTerm, data: StepData) -> Sequences:
        if term.source == "rollout":
            return rollout_sequences(data.rollouts, data.rewards, term.indices)
        rows = term.rows if term.rows is not None else data.rows  # a term may bring its own rows
        return demo_sequences([self.prompt_ids(r) for r in rows], [self.demo_ids(r) for r in rows],
                              term.indices, term.demo_lengths)

    def _run_update(self, update: Update, data: StepData, record: dict[str, Any]) -> Feedback:
        # mini-batches split by the rows a term indexes: the step's, or a term's own
        num_prompts = max([len(data.rows)] + [len(t.rows) for t in update.terms if t.rows is not None])
        return run_update(self.opt, update, self.controller.weighting_of(update),
                          lambda term: self._sequences(term, data), record, num_prompts=num_prompts)

    # -- the loop --------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        from hybridrl.training.persistence.tracking import MetricsLog, Progress, Trackers

        cfg, main = self.cfg, self.par.main
        resumed = self.start_step > 0
        log = MetricsLog(self.run_dir / "metrics.jsonl", self.start_step if resumed else None) if main else None
        acc_path = self.run_dir / "group_accuracy.jsonl"
        if main and not resumed and acc_path.exists():
            acc_path.unlink()
        trackers = Trackers(cfg.report_to, self.run_dir, config_to_dict(cfg)) if main else None
        bar = Progress(self.total_steps, self.start_step, cfg.progress and main, cfg.log_every)
        intr = interrupt.active()  # installed by train.runner before the model loaded (or a no-op)
        last_saved = None
        last_save_time = time.monotonic()
        try:
            for step in range(self.start_step, self.total_steps):
                record = self._step_or_stop(step, intr)
                if main:
                    log.write(record)
                    trackers.log(record, step + 1)
                    if self._group_acc is not None:
                        with open(acc_path, "a") as f:
                            f.write(json.dumps({"step": step + 1, **self._group_acc}) + "\n")
                bar.update(record)
                if cfg.eval_every and (step + 1) % cfg.eval_every == 0 and step + 1 < self.total_steps:
                    self.evaluate(step + 1)
                due = self._save_due(step, last_save_time)
                if due:
                    last_saved = self.save(step + 1)
                    last_save_time = time.monotonic()
                if intr.requested and step + 1 < self.total_steps:  # SIGINT/SIGTERM: save this step, stop
                    if not due:
                        last_saved = self.save(step + 1)
                    raise interrupt.RunInterrupted(intr.requested, step + 1, last_saved, self.run_dir)
        finally:
            bar.close()
            if log:
                log.close()
        final_eval = self.evaluate(self.total_steps)
        if last_saved is None or not str(last_saved).endswith(f"{self.total_steps:06d}"):
            last_saved = self.save(self.total_steps)
        if trackers:
            trackers.close()
        summary = self._summary(final_eval, last_saved)
        return summary

    def _step_or_stop(self, step: int, intr: Any) -> dict[str, Any]:
        """One step; if it is abandoned (a signal) or aborted (non-finite updates), the state as it
        was before it is saved (its batch goes back to the sampler: skipped updates never touch
        the weights or the optimizer) and the run stops."""
        self._group_acc = None
        before = (self.sampler.state_dict(), ckpt.rng_state(), copy.deepcopy(self.controller.state_dict()))
        try:
            return self.step(step)
        except (TrainingAborted, interrupt.StepAbandoned) as e:
            self.sampler.load_state_dict(before[0])
            ckpt.set_rng_state(before[1])
            self.controller.load_state_dict(before[2])
            saved = self.save(step)
            if isinstance(e, interrupt.StepAbandoned):
                raise interrupt.RunInterrupted(intr.requested, step, saved, self.run_dir) from None
            raise TrainingAborted(f"{e}; stopped at step {step}, the last good state is saved in "
                                  f"{saved} (resume with --resume {self.run_dir})") from None

    def _save_due(self, step: int, last_save_time: float) -> bool:
        """A checkpoint after ``step``: every ``save_every`` steps, or by time (bounds what kill -9
        loses; every rank takes the same decision)."""
        cfg = self.cfg
        due = bool(cfg.save_every and (step + 1) % cfg.save_every == 0)
        if not due and cfg.save_every_minutes and step + 1 < self.total_steps:
            late = time.monotonic() - last_save_time >= 60 * cfg.save_every_minutes
            due = bool(self.par.agree(int(late)))
        return due

    def evaluate(self, step: int) -> dict[str, Any] | None:
        """Greedy accuracy on the held-out rows, appended to eval.jsonl."""
        if not self.eval_rows:
            return None
        from hybridrl.training.loop.heldout import score_rows

        rows = self._shard(self.eval_rows)
        with self.par.gathered(self.model) as model:
            per_row = score_rows(model, self.tokenizer, rows, template=self.cfg.template,
                                 max_new_tokens=self.cfg.eval_max_new_tokens or self.cfg.max_new_tokens,
                                 bf16=self.cfg.bf16, batch_size=max(8, self.cfg.micro_batch_size),
                                 progress=False, timeout_s=self.cfg.reward_timeout, reward_fn=self.cfg.reward_fn,
                                 # a vLLM engine answers too (synced to the current weights first)
                                 generator=self.generator if getattr(self.generator, "batches_itself", False) else None)
        # accuracy is the task verifier's; a reward_fn is logged apart as greedy_reward
        c, n, rew = self.par.sum([float(sum(r["greedy_correct"] for r in per_row)), float(len(per_row)),
                                   float(sum(r.get("greedy_reward", 0.0) for r in per_row))])
        out = {"step": step, "greedy_accuracy": c / max(1.0, n), "n": int(n)}
        if self.cfg.reward_fn:
            out["greedy_reward"] = rew / max(1.0, n)
        if self.par.main:
            with open(self.run_dir / "eval.jsonl", "a") as f:
                f.write(json.dumps(out) + "\n")
        return out

    def _summary(self, final_eval, checkpoint_dir) -> dict[str, Any]:
        summary = run_summary(self.run_dir, self.cfg, self.total_steps, self.data_stats, final_eval, checkpoint_dir,
                              self.controller.metrics())
        if self.par.main:
            (self.run_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
        return summary


def train(cfg: TrainConfig, resume: str | Path | None = None) -> dict[str, Any]:
    """Run training; returns the summary (also written to ``<output_dir>/summary.json``)."""
    return Trainer(cfg, resume=resume).run()
