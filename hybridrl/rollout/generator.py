"""Generators: prompts in, n completions per prompt with their sampling log-probs out.

``Generator`` is the narrow interface the loop sees (docs/design.md §1); ``HFGenerator`` implements it with
HF ``generate`` (CPU or GPU). ``hybridrl.rollout.vllm_generator.VLLMGenerator`` implements it with
a colocated vLLM engine (CPU and GPU); ``hybridrl.rollout.factory`` picks one (``rollout_engine``).

Conventions shared by every generator (the rest of the loop relies on them):
  * samples are prompt-major: sample i continues prompt ``prompt_index[i] = i // n``;
  * the EOS token is part of the completion (mask 1): the model must learn to stop;
    everything after it is padding (mask 0, id = pad id); finish_reason "stop";
  * a completion that hit ``max_new_tokens`` without EOS has finish_reason "length";
  * ``logprobs`` = log_softmax(raw_logits / temperature) at the sampled token, i.e. the
    tempered distribution *before* top-p/top-k truncation (as TRL recomputes them), and at
    temperature 1 for greedy decoding. These equal ``sequence_logprobs`` for the same tokens.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any, Protocol, runtime_checkable

import torch
from transformers import GenerationConfig

from hybridrl.rollout.types import RolloutBatch, SamplingParams


@runtime_checkable
class Generator(Protocol):
    """Anything that turns prompts into a ``RolloutBatch``."""

    def generate(self, prompt_ids: list[list[int]], params: SamplingParams) -> RolloutBatch:
        """``params.n`` completions for each prompt, prompt-major."""
        ...


class HFGenerator:
    """Sampling with HF ``generate``, batched with left padding.

    Args:
        model: HF causal LM (or PEFT wrapper). Put in eval mode during ``generate``; its previous
            mode is restored afterwards.
        tokenizer: its tokenizer (pad/eos ids, decoding).
        bf16: run under bfloat16 autocast (CPU or GPU); ~1.3-1.6x faster on CPU (docs/design.md §2).
            Sampling log-probs then come from bf16 logits.
        batch_size: maximum sequences per ``generate`` call (default: all N at once).
        eos_token_ids: extra token ids that end a completion (added to the tokenizer's EOS and
            the model's ``generation_config.eos_token_id``).

    After each call, ``last_stats`` holds ``{"tokens", "seconds", "tokens_per_s", "num_samples"}``
    (tokens = real completion tokens generated).
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        bf16: bool = False,
        batch_size: int | None = None,
        eos_token_ids: list[int] | None = None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.bf16 = bf16
        self.batch_size = batch_size
        self.eos_token_ids = _eos_ids(model, tokenizer, eos_token_ids)
        pad = tokenizer.pad_token_id
        self.pad_token_id = int(pad if pad is not None else self.eos_token_ids[0])
        self.last_stats: dict[str, float] = {}

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def generate(self, prompt_ids: list[list[int]], params: SamplingParams) -> RolloutBatch:
        if not prompt_ids or any(len(p) == 0 for p in prompt_ids):
            raise ValueError("prompt_ids must be a non-empty list of non-empty token lists")
        n = params.n
        prompt_index = torch.arange(len(prompt_ids)).repeat_interleave(n)  # (N,) prompt-major
        rows = [prompt_ids[p] for p in prompt_index.tolist()]
        chunk = self.batch_size or len(rows)
        start = time.perf_counter()
        was_training = self.model.training
        self.model.eval()
        try:
            with self._rng(params.seed), self._autocast():
                parts = [
                    self._generate_chunk(rows[i : i + chunk], params)
                    for i in range(0, len(rows), chunk)
                ]
        finally:
            self.model.train(was_training)
        seconds = time.perf_counter() - start

        width = max(ids.shape[1] for ids, _, _ in parts)
        completion_ids = torch.cat([_pad_cols(ids, width, self.pad_token_id) for ids, _, _ in parts])
        completion_mask = torch.cat([_pad_cols(m, width, 0) for _, m, _ in parts])
        logprobs = torch.cat([_pad_cols(lp, width, 0) for _, _, lp in parts])
        lengths = completion_mask.sum(1).long()
        finished = (self._is_eos(completion_ids) & (completion_mask > 0)).any(1)
        texts = [
            self.tokenizer.decode(ids[:length].tolist(), skip_special_tokens=True)
            for ids, length in zip(completion_ids, lengths)
        ]
        tokens = int(lengths.sum())
        self.last_stats = {
            "tokens": tokens,
            "seconds": seconds,
            "tokens_per_s": tokens / max(seconds, 1e-9),
            "num_samples": len(rows),
        }
        return RolloutBatch(
            prompt_ids=[list(p) for p in prompt_ids],
            prompt_index=prompt_index,
            completion_ids=completion_ids,
            completion_mask=completion_mask,
            logprobs=logprobs,
            texts=texts,
            finish_reasons=["stop" if f else "length" for f in finished.tolist()],
            has_logprobs=params.return_logprobs,
        )

    # -- internals ---------------------------------------------------------------------------

    def _generate_chunk(
        self, rows: list[list[int]], params: SamplingParams
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Generate one completion per row; returns (ids, mask, logprobs), each (B, T_chunk) on CPU."""
        device = self.device
        width = max(len(r) for r in rows)
        input_ids = torch.full((len(rows), width), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            input_ids[i, width - len(r) :] = torch.as_tensor(r, dtype=torch.long)
            attention_mask[i, width - len(r) :] = 1
        out = self.model.generate(
            input_ids=input_ids.to(device),
            attention_mask=attention_mask.to(device),
            generation_config=self._generation_config(params),
        )
        ids = out.sequences[:, width:]  # (B, T)
        # out.logits: T tensors of (B, V), raw (before temperature/top-k/top-p processors).
        temperature = 1.0 if params.greedy else params.temperature
        steps = []
        for step, step_logits in enumerate(out.logits if params.return_logprobs else ()):
            z = step_logits.float() / temperature
            steps.append(
                z.gather(-1, ids[:, step : step + 1]).squeeze(-1) - torch.logsumexp(z, dim=-1)
            )
        logprobs = torch.stack(steps, dim=1) if steps else torch.zeros_like(ids, dtype=torch.float)
        # Mask: every token up to and including the first EOS; rows without EOS keep all T.
        is_eos = self._is_eos(ids)
        after_eos = (is_eos.long().cumsum(1) - is_eos.long()) > 0  # strictly after the first EOS
        mask = (~after_eos).float()
        ids = ids.masked_fill(after_eos, self.pad_token_id)
        return ids.cpu(), mask.cpu(), (logprobs * mask).cpu()

    def _generation_config(self, params: SamplingParams) -> GenerationConfig:
        # Every sampling field is set explicitly: HF fills unset (None) fields from the model's
        # generation_config and then from global defaults (top_k=50!), which we do not want.
        sampling: dict[str, Any] = {"do_sample": False}
        if not params.greedy:
            sampling = dict(
                do_sample=True,
                temperature=params.temperature,
                top_p=params.top_p,
                top_k=params.top_k,  # 0 = off (not None, which would mean HF's default 50)
                # off. 0.0 would add a min-p warper that computes a softmax over the vocabulary at every
                # token and removes nothing; None is off unless the model's generation
                # config sets a min_p, which HF would then fill in: 0.0 overrides it there
                min_p=None if getattr(getattr(self.model, "generation_config", None), "min_p", None) is None else 0.0,
                typical_p=1.0,
            )
        return GenerationConfig(
            max_new_tokens=params.max_new_tokens,
            min_new_tokens=params.min_new_tokens,
            repetition_penalty=1.0,
            no_repeat_ngram_size=0,
            num_beams=1,
            num_return_sequences=1,
            eos_token_id=self.eos_token_ids,
            pad_token_id=self.pad_token_id,
            output_logits=params.return_logprobs,
            return_dict_in_generate=True,
            use_cache=True,
            **sampling,
        )

    def _rng(self, seed: int | None):
        """Seeded calls run on a forked RNG, so they are reproducible and leave global state alone."""
        if seed is None:
            return contextlib.nullcontext()
        devices = [self.device] if self.device.type == "cuda" else []
        return _seeded(seed, devices)

    def _autocast(self):
        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)

    def _is_eos(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, T) bool: True where ``ids`` is any of the EOS ids."""
        return torch.isin(ids, torch.tensor(self.eos_token_ids, device=ids.device))


class CopiedHFGenerator(HFGenerator):
    """HF generate on a lower-precision copy of the policy (``rollout_dtype`` bf16 / int8,
    :class:`hybridrl.rollout.precision.RolloutWeights`), refreshed after every optimizer step
    by the loop's ``on_policy_updated(model or full-state-dict callable)`` hook."""

    owns_weights = True
    """Generation does not read the training weights (FSDP2 need not gather them)."""

    def __init__(self, weights: Any, tokenizer: Any, **kw: Any) -> None:
        # int8 linears take fp32 activations, a bf16 copy is bf16 already: no autocast
        super().__init__(weights.module, tokenizer, bf16=False, **kw)
        self.weights = weights
        self.precision: str = weights.dtype

    def on_policy_updated(self, source: Any) -> None:
        self.model = self.weights.refresh(source)


@contextlib.contextmanager
def _seeded(seed: int, devices: list[torch.device]):
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def _eos_ids(model: Any, tokenizer: Any, extra: list[int] | None) -> list[int]:
    ids: list[int] = []
    candidates: list[Any] = [tokenizer.eos_token_id]
    gen_cfg = getattr(model, "generation_config", None)
    if gen_cfg is not None:
        candidates.append(gen_cfg.eos_token_id)
    candidates.append(extra)
    for c in candidates:
        for i in c if isinstance(c, (list, tuple)) else [c]:
            if i is not None and int(i) not in ids:
                ids.append(int(i))
    if not ids:
        raise ValueError("no EOS token id: set tokenizer.eos_token or pass eos_token_ids")
    return ids


def _pad_cols(x: torch.Tensor, width: int, value: float) -> torch.Tensor:
    """Right-pad dim 1 of a (B, T) tensor to ``width`` with ``value``."""
    if x.shape[1] >= width:
        return x
    return torch.nn.functional.pad(x, (0, width - x.shape[1]), value=value)
