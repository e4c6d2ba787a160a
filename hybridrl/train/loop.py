"""The one training loop (DESIGN §1). It never branches on the method's name.

step:  prompts -> controller.needs -> n rollouts each -> verified rewards -> controller.plan
       -> for each update: per-term losses (estimator presets), one aggregation -> optimizer step
       -> controller.observe -> metrics.jsonl / progress / checkpoints

Multi-process (``accelerate launch``): every process draws the same global batch of prompts
and keeps its shard (``rows[rank::world]``); groups never straddle processes, so group
statistics stay per prompt. Token/sequence counts of every term are summed over processes
before the loss is formed, and gradients are summed over processes after the backward
passes (no DDP wrapper: the number of micro-batches may differ by rank), so the update is
exactly the one-process update of the global batch.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import time
from pathlib import Path
from typing import Any

import torch

from hybridrl.methods.base import Feedback, StepContext, StepData
from hybridrl.train import checkpoint as ckpt
from hybridrl.train.config import TrainConfig, config_to_dict
from hybridrl.train.update import (LossSettings, TermState, demo_sequences, prepare_critic, rollout_sequences,
                                   term_backward, term_entropy_sums)


class TrainingAborted(RuntimeError):
    """Raised when the run cannot continue (e.g. too many non-finite updates)."""


# ---------------------------------------------------------------------------------------
# distributed helpers (a no-op on one process)


class Dist:
    def __init__(self):
        import torch.distributed as tdist

        self.td = tdist
        self.on = tdist.is_available() and tdist.is_initialized()
        self.rank = tdist.get_rank() if self.on else 0
        self.world = tdist.get_world_size() if self.on else 1

    def sum(self, values: list[float]) -> list[float]:
        if not self.on:
            return values
        t = torch.tensor(values, dtype=torch.float64)
        self.td.all_reduce(t)
        return t.tolist()

    def sum_grads(self, params: list[torch.nn.Parameter]) -> None:
        if not self.on:
            return
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1).float() for g in grads])
        self.td.all_reduce(flat)
        offset = 0
        for p, g in zip(params, grads):
            n = g.numel()
            p.grad = flat[offset: offset + n].view_as(p).to(p.dtype)
            offset += n

    @property
    def main(self) -> bool:
        return self.rank == 0


def _init_distributed() -> Dist:
    import os

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        from accelerate import PartialState

        PartialState()  # initialises the process group from the launcher's environment
    return Dist()


# ---------------------------------------------------------------------------------------


def _autocast(cfg: TrainConfig, device: torch.device):
    if not cfg.bf16:
        return contextlib.nullcontext
    return lambda: torch.autocast(device.type, dtype=torch.bfloat16)


def _lr_lambda(cfg: TrainConfig):
    def f(step: int) -> float:
        if cfg.warmup_steps and step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        if cfg.lr_scheduler == "cosine":
            progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
            return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
        return 1.0

    return f


class Trainer:
    """Holds the run's objects; :meth:`run` is the loop. Built by :func:`train`."""

    def __init__(self, cfg: TrainConfig, resume: str | Path | None = None):
        from hybridrl.data.templates import format_demonstration, format_prompt
        from hybridrl.methods.registry import build_controller, method_spec
        from hybridrl.models.loading import load_model_and_tokenizer
        from hybridrl.rollout.generator import HFGenerator
        from hybridrl.train.data_setup import load_train_eval_rows
        from hybridrl.train.sampler import PromptSampler

        self.cfg = cfg
        self.dist = _init_distributed()
        self.run_dir = Path(cfg.output_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        # data first: bad rows fail before any model loads
        self.train_rows, self.eval_rows, self.data_stats = load_train_eval_rows(cfg)
        torch.manual_seed(cfg.seed)
        self.device = torch.device("cuda", self.dist.rank % max(1, torch.cuda.device_count())) \
            if torch.cuda.is_available() else torch.device("cpu")
        model, tok = load_model_and_tokenizer(cfg.model, seed=cfg.seed)
        model.to(self.device)
        self.tokenizer = tok
        spec = method_spec(cfg.method)
        self.ref_model = None
        if cfg.beta > 0:
            from hybridrl.models.loading import load_reference_copy

            self.ref_model = load_reference_copy(model)
        if cfg.lora_r > 0:
            from peft import LoraConfig, get_peft_model

            model = get_peft_model(model, LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha,
                                                     target_modules="all-linear", task_type="CAUSAL_LM"))
        if cfg.gradient_checkpointing:
            model.gradient_checkpointing_enable()
            if hasattr(model, "enable_input_require_grads"):
                model.enable_input_require_grads()
        self.model = model
        self.value_head = None
        if spec.critic:
            torch.manual_seed(cfg.seed)
            self.value_head = torch.nn.Linear(model.config.hidden_size, 1).to(self.device)
            torch.nn.init.zeros_(self.value_head.weight)
            torch.nn.init.zeros_(self.value_head.bias)
        self.controller = build_controller(cfg)
        self.params = [p for p in model.parameters() if p.requires_grad]
        # one optimizer; learnable loss weights (SuperRL) may have their own learning rate
        groups = [{"params": self.params}]
        weights_params = list(self.controller.parameters())
        if weights_params:
            groups.append({"params": weights_params, "weight_decay": 0.0,
                           "lr": cfg.loss_weight_lr if cfg.loss_weight_lr is not None else cfg.lr})
        if self.value_head is not None:
            groups.append({"params": list(self.value_head.parameters()), "weight_decay": 0.0})
        # the fused kernel (CPU and CUDA) takes 0.06 s per step on 135M params vs 1.0 s for the loop one
        try:
            self.optimizer = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
        except (RuntimeError, TypeError):
            self.optimizer = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.all_params = [p for g in groups for p in g["params"]]
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, _lr_lambda(cfg))
        self.sampler = PromptSampler(self.train_rows, cfg.prompts_per_step, cfg.seed)
        self.generator = HFGenerator(model, tok, bf16=cfg.bf16)
        self.format_prompt = lambda row: format_prompt(row, cfg.template, tok)
        self.format_demo = lambda row: format_demonstration(row, cfg.template)
        self._prompt_cache: dict[str, list[int]] = {}
        self._demo_cache: dict[str, list[int]] = {}
        self.settings = LossSettings(
            temperature=cfg.temperature, eps_low=cfg.eps_low, eps_high=cfg.eps_high, dual_clip_c=cfg.dual_clip_c,
            shaping_gamma=cfg.shaping_gamma, loss_agg_mode=cfg.loss_agg_mode, max_len=cfg.max_new_tokens,
            beta=cfg.beta, kl_estimator=cfg.kl_estimator, entropy_coef=cfg.entropy_coef, vf_coef=cfg.vf_coef,
            gae_gamma=cfg.gae_gamma, gae_lambda=cfg.gae_lambda, cliprange_value=cfg.cliprange_value,
            micro_batch_size=cfg.micro_batch_size, old_logprobs=cfg.old_logprobs,
            autocast=_autocast(cfg, self.device), skip_zero_advantage=cfg.skip_zero_advantage)
        self.start_step = 0
        self.nonfinite = 0
        self.total_steps = cfg.steps
        if resume is not None:
            self._resume(Path(resume))
        self._write_config()

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

    # -- resume / checkpoints --------------------------------------------------------
    def _write_config(self) -> None:
        if not self.dist.main:
            return
        import yaml

        tmp = self.run_dir / "config.yaml.tmp"
        tmp.write_text(yaml.safe_dump(config_to_dict(self.cfg), sort_keys=False))
        tmp.replace(self.run_dir / "config.yaml")

    def _resume(self, path: Path) -> None:
        c = path if (path / ckpt.MARKER).exists() else ckpt.latest_checkpoint(path)
        if c is None:
            raise FileNotFoundError(f"--resume {path}: no complete checkpoint found")
        state = ckpt.load_state(c)
        ckpt.load_model_weights(self.model, c)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.controller.load_state_dict(state["controller"])
        self.sampler.load_state_dict(state["sampler"])
        if self.value_head is not None:
            self.value_head.load_state_dict(state["value_head"])
        if self.ref_model is not None and state.get("ref_model") is not None:
            self.ref_model.load_state_dict(state["ref_model"])
        ckpt.set_rng_state(state["rng"])
        self.start_step = int(state["step"])
        self.resumed_from = c

    def save(self, step: int) -> Path | None:
        """Checkpoint after ``step`` steps (main process only)."""
        if not self.dist.main:
            return None
        state = {
            "step": step,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "controller": self.controller.state_dict(),
            "sampler": self.sampler.state_dict(),
            "rng": ckpt.rng_state(),
            "value_head": self.value_head.state_dict() if self.value_head is not None else None,
            # the reference only needs saving when it is not the initial model (SFT→RL)
            "ref_model": self.ref_model.state_dict() if self.ref_model is not None else None,
        }
        return ckpt.save_checkpoint(self.run_dir, step, self.model, self.tokenizer, state, self.cfg.keep_last)

    # -- one step --------------------------------------------------------------------
    def _shard(self, rows: list) -> list:
        return rows[self.dist.rank:: self.dist.world]

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
            self.ref_model.load_state_dict(self.model.state_dict())
        record: dict[str, Any] = {"step": step, "epoch": epoch}
        rollouts = rewards = correct = None
        reward_mean = None
        if needs.rollouts:
            k = needs.rollouts_per_prompt or cfg.group_size
            tg = time.time()
            rollouts = self._generate(rows, k, step)
            record["time/generate"] = time.time() - tg
            tr = time.time()
            sample_rows = [rows[int(i)] for i in rollouts.prompt_index]
            results, counts = score_completions(rollouts.texts, sample_rows, timeout_s=cfg.reward_timeout,
                                                reward_fn=cfg.reward_fn)
            record["time/reward"] = time.time() - tr
            rewards = torch.tensor([r.score for r in results], dtype=torch.float32)
            correct = torch.tensor([r.correct for r in results], dtype=torch.bool)
            record.update(self._rollout_metrics(rollouts, rewards, correct, rows, counts))
            reward_mean = record["reward"]
        data = StepData(rows=rows, rollouts=rollouts, rewards=rewards, correct=correct,
                        batch_reward_mean=reward_mean)
        updates = self.controller.plan(ctx, data)
        tu = time.time()
        for update in updates:
            fb = self._run_update(update, data, record)
            self.controller.observe(ctx, fb)
        record["time/update"] = time.time() - tu
        self.scheduler.step()
        record["lr"] = self.scheduler.get_last_lr()[0]
        record.update(self.controller.metrics())
        record["step_time"] = time.time() - t0
        return record

    def _generate(self, rows: list, k: int, step: int):
        from hybridrl.rollout.types import SamplingParams, concat_rollouts

        cfg = self.cfg
        base = (cfg.seed * 1_000_003 + step) * 4096

        def params(seed: int) -> SamplingParams:
            return SamplingParams(n=k, max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature,
                                  top_p=cfg.top_p, top_k=cfg.top_k, min_new_tokens=cfg.min_new_tokens, seed=seed,
                                  # only the `sampling` denominator reads the generator's log-probs
                                  return_logprobs=cfg.old_logprobs == "sampling")

        if cfg.sampling_seed == "prompt":
            # global position of each local prompt: rows are rows_global[rank::world]
            return concat_rollouts([
                self.generator.generate([self.prompt_ids(r)], params(base + self.dist.rank + i * self.dist.world))
                for i, r in enumerate(rows)])
        return self.generator.generate([self.prompt_ids(r) for r in rows], params(base + self.dist.rank))

    def _rollout_metrics(self, rollouts, rewards, correct, rows, counts) -> dict[str, Any]:
        k = rollouts.num_samples // max(1, len(rows))
        groups = rewards.view(len(rows), k) if rewards.numel() == len(rows) * k else None
        lengths = rollouts.completion_mask.sum(1).float()
        truncated = sum(1 for f in rollouts.finish_reasons if f == "length")
        zero_std = float((groups.std(1, unbiased=False) == 0).sum()) if groups is not None else 0.0
        n = float(rewards.numel())
        s = self.dist.sum([float(rewards.sum()), float((rewards ** 2).sum()), n, zero_std, float(len(rows)),
                           float(lengths.sum()), float(truncated), float(correct.sum()),
                           *[float(counts.get(c, 0)) for c in ("reward/timeouts", "reward/errors", "reward/extract_failed")]])
        mean = s[0] / s[2]
        out = {
            "reward": mean,
            "reward_std": math.sqrt(max(0.0, s[1] / s[2] - mean ** 2)),
            "accuracy": s[7] / s[2],
            "frac_reward_zero_std": s[3] / max(1.0, s[4]),
            "completions/mean_length": s[5] / s[2],
            "completions/clipped_ratio": s[6] / s[2],
            "reward/timeouts": s[8], "reward/errors": s[9], "reward/extract_failed": s[10],
        }
        if groups is not None:
            acc = correct.view(len(rows), k).float().mean(1).tolist()
            self._group_acc = {"ids": [r.id for r in rows], "acc": acc}
        return out

    def _run_update(self, update, data: StepData, record: dict[str, Any]) -> Feedback:
        cfg = self.cfg
        states = []
        for term in update.terms:
            if len(term.indices) == 0:
                states.append(None)
                continue
            if term.source == "rollout":
                seqs = rollout_sequences(data.rollouts, data.rewards, term.indices)
            else:
                seqs = demo_sequences([self.prompt_ids(r) for r in data.rows],
                                      [self.demo_ids(r) for r in data.rows], term.indices)
            states.append(TermState(term, seqs))
        # global counts per term (a term may be empty on this rank and not on another)
        local = []
        for ts in states:
            local += [ts.num_tokens, ts.num_seqs] if ts is not None else [0.0, 0.0]
        glob = self.dist.sum(local)
        def weight_of(name: str):
            # asked afresh for every micro-batch: a learnable weight's graph is freed by each backward
            return self.controller.loss_weights().get(name, 1.0)

        for i, ts in enumerate(states):
            if ts is not None:
                ts.num_tokens_global, ts.num_seqs_global = glob[2 * i], glob[2 * i + 1]
                if self.value_head is not None and ts.preset.advantage == "gae":
                    prepare_critic(ts, self.model, self.value_head, self.settings)
                if ts.preset.weighting is not None:
                    ent, tok = self.dist.sum(list(term_entropy_sums(ts, self.model, self.settings)))
                    ts.batch_entropy = torch.tensor(ent / max(1.0, tok))
        self.model.train()
        term_losses: dict[str, float] = {}
        stats_all: dict[str, float] = {}
        grad_norm = 0.0
        skipped = False
        used_w: dict[str, float] | None = None
        used_reg = 0.0
        for it in range(cfg.num_iterations):
            self.optimizer.zero_grad(set_to_none=True)
            skipped_mb_it = 0.0
            for ts in states:
                if ts is None:
                    continue
                st = term_backward(ts, it, self.model, self.ref_model, self.value_head,
                                   lambda name=ts.term.name: weight_of(name), 1.0, self.settings)
                skipped_mb_it += st["skipped_mb"]
                if it == 0:
                    term_losses[ts.term.name] = term_losses.get(ts.term.name, 0.0) + st.pop("loss")
                    for key, v in st.items():
                        stats_all[key] = stats_all.get(key, 0.0) + v
            reg = self.controller.regularizer()
            if reg is not None and self.dist.main:
                reg.backward()
            if skipped_mb_it:
                # no backward reached the policy when every micro-batch was skipped (zero
                # advantages): give it the zero gradient the zero loss would have, so AdamW's
                # moments and weight decay act exactly as without the skip
                for p in self.params:
                    if p.grad is None:
                        p.grad = torch.zeros_like(p)
            self.dist.sum_grads(self.all_params)
            # the policy's gradient norm is clipped and logged (SASR reads it); the value head and
            # the learnable loss weights are only checked for finiteness
            gn = torch.nn.utils.clip_grad_norm_(self.params, cfg.max_grad_norm if cfg.max_grad_norm > 0 else float("inf"))
            grad_norm = float(gn)
            extra_finite = all(p.grad is None or bool(torch.isfinite(p.grad).all())
                               for p in self.all_params[len(self.params):])
            if not math.isfinite(grad_norm) or not extra_finite or any(not math.isfinite(v) for v in term_losses.values()):
                self.optimizer.zero_grad(set_to_none=True)
                skipped = True
                self.nonfinite += 1
                if self.nonfinite >= cfg.max_nonfinite_steps:
                    raise TrainingAborted(
                        f"{self.nonfinite} consecutive updates had a non-finite loss or gradient "
                        f"(grad_norm={grad_norm}, losses={term_losses})")
                break
            self.nonfinite = 0
            if it == 0:  # the weights the logged loss was formed with (they move at the step)
                used_w = {n: float(torch.as_tensor(weight_of(n)).detach()) for n in term_losses}
                used_reg = self.controller.regularizer()
                used_reg = float(used_reg.detach()) if used_reg is not None else 0.0
            self.optimizer.step()
        # global term losses (each rank's share sums to the whole-batch loss)
        # every rank lists the same names (a term may be empty on one rank and not another)
        names = sorted({t.name for t in update.terms} | set(term_losses))
        term_losses = {n: term_losses.get(n, 0.0) for n in names}
        vals = self.dist.sum([term_losses[n] for n in names] + [stats_all.get("entropy_sum", 0.0), stats_all.get("tokens", 0.0),
                                                                stats_all.get("kl", 0.0)])
        term_losses = dict(zip(names, vals[: len(names)]))
        # a step may hold several updates (SuperRL per_step): term losses are keyed by term
        # name, `loss` adds up, `grad_norm` is the first update's and `grad_norm/<kind>` each one's
        for n, v in term_losses.items():
            record[f"{n}_loss"] = record.get(f"{n}_loss", 0.0) + v
        if used_w is None:  # the update was skipped before any step
            used_w = {n: float(torch.as_tensor(weight_of(n)).detach()) for n in term_losses}
        total = sum(used_w.get(n, 1.0) * v for n, v in term_losses.items())
        record["loss"] = record.get("loss", 0.0) + total + used_reg
        if vals[-2] > 0 and record.get("entropy") is None:
            record["entropy"] = vals[-3] / vals[-2]
        record.setdefault("entropy", None)  # null: every micro-batch was skipped (zero advantages)
        if self.cfg.beta > 0:
            record["kl"] = record.get("kl", 0.0) + vals[-1]
        for key, v in stats_all.items():
            if "/" in key:
                record[key] = v
        record["update/skipped_microbatches"] = (record.get("update/skipped_microbatches", 0.0)
                                                 + self.dist.sum([stats_all.get("skipped_mb", 0.0)])[0])
        if self.value_head is not None:
            record["vf_loss"] = record.get("vf_loss", 0.0) + self.dist.sum([stats_all.get("vf_loss", 0.0)])[0]
        record.setdefault("grad_norm", grad_norm)
        record[f"grad_norm/{update.kind}"] = grad_norm
        record["update_skipped"] = record.get("update_skipped", False) or skipped
        return Feedback(kind=update.kind, grad_norm=grad_norm, term_losses=term_losses, skipped=skipped)

    # -- the loop --------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        from hybridrl.train.tracking import MetricsLog, Progress, Trackers

        cfg, main = self.cfg, self.dist.main
        resumed = self.start_step > 0
        log = MetricsLog(self.run_dir / "metrics.jsonl", self.start_step if resumed else None) if main else None
        acc_path = self.run_dir / "group_accuracy.jsonl"
        if main and not resumed and acc_path.exists():
            acc_path.unlink()
        trackers = Trackers(cfg.report_to, self.run_dir, config_to_dict(cfg)) if main else None
        bar = Progress(self.total_steps, self.start_step, cfg.progress and main, cfg.log_every)
        last_saved = None
        try:
            for step in range(self.start_step, self.total_steps):
                self._group_acc = None
                before = (self.sampler.state_dict(), ckpt.rng_state(), copy.deepcopy(self.controller.state_dict()))
                try:
                    record = self.step(step)
                except TrainingAborted as e:
                    # skipped updates never touch the weights or the optimizer: save the state as
                    # it was before this step (its batch goes back to the sampler), then stop
                    self.sampler.load_state_dict(before[0])
                    ckpt.set_rng_state(before[1])
                    self.controller.load_state_dict(before[2])
                    saved = self.save(step)
                    raise TrainingAborted(f"{e}; stopped at step {step}, the last good state is saved in "
                                          f"{saved} (resume with --resume {self.run_dir})") from None
                if main:
                    log.write(record)
                    trackers.log(record, step)
                    if self._group_acc is not None:
                        with open(acc_path, "a") as f:
                            f.write(json.dumps({"step": step, **self._group_acc}) + "\n")
                bar.update(record)
                if cfg.eval_every and (step + 1) % cfg.eval_every == 0 and step + 1 < self.total_steps:
                    self.evaluate(step + 1)
                if cfg.save_every and (step + 1) % cfg.save_every == 0:
                    last_saved = self.save(step + 1)
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

    def evaluate(self, step: int) -> dict[str, Any] | None:
        """Greedy accuracy on the held-out rows, appended to eval.jsonl."""
        if not self.eval_rows:
            return None
        from hybridrl.eval.evaluate import evaluate_rows

        rows = self._shard(self.eval_rows)
        res = evaluate_rows(self.model, self.tokenizer, rows, template=self.cfg.template,
                            max_new_tokens=self.cfg.eval_max_new_tokens or self.cfg.max_new_tokens,
                            bf16=self.cfg.bf16, batch_size=max(8, self.cfg.micro_batch_size),
                            progress=False, timeout_s=self.cfg.reward_timeout, reward_fn=self.cfg.reward_fn)
        c, n = self.dist.sum([res["greedy_correct"], res["n"]])
        out = {"step": step, "greedy_accuracy": c / max(1.0, n), "n": int(n)}
        if self.dist.main:
            with open(self.run_dir / "eval.jsonl", "a") as f:
                f.write(json.dumps(out) + "\n")
        return out

    def _summary(self, final_eval, checkpoint_dir) -> dict[str, Any]:
        recs = []
        p = self.run_dir / "metrics.jsonl"
        if p.exists():
            recs = [json.loads(l) for l in p.read_text().splitlines() if l.strip()]
        rewards = [r["reward"] for r in recs if isinstance(r.get("reward"), (int, float))]
        summary = {
            "method": self.cfg.method,
            "model": self.cfg.model,
            "steps": self.total_steps,
            "data": self.data_stats,
            "reward_first": rewards[0] if rewards else None,
            "reward_last": rewards[-1] if rewards else None,
            "reward_mean_last_10": sum(rewards[-10:]) / len(rewards[-10:]) if rewards else None,
            "final_eval": final_eval,
            "checkpoint": str(checkpoint_dir) if checkpoint_dir else None,
            "controller": {k: v for k, v in self.controller.metrics().items()
                           if isinstance(v, (int, float, str, bool)) or v is None},
            "wall_time_s": sum(r.get("step_time", 0.0) for r in recs),
        }
        if self.dist.main:
            (self.run_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
        return summary


def train(cfg: TrainConfig, resume: str | Path | None = None) -> dict[str, Any]:
    """Run training; returns the summary (also written to ``<output_dir>/summary.json``)."""
    return Trainer(cfg, resume=resume).run()
