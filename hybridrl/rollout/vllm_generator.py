"""Optional vLLM generator (GPU only; ``pip install hybridrl[vllm]``). Untested in CI.

Same interface and conventions as ``HFGenerator`` (see ``hybridrl.rollout.generator``), with one
difference worth knowing: vLLM's returned log-probs follow its ``logprobs_mode`` (by default the
raw model log-probs, i.e. at temperature 1) and come from vLLM's own kernels, so they are not
bit-comparable with ``sequence_logprobs``. For importance ratios, recompute the "old" log-probs
with ``sequence_logprobs`` (as TRL does) rather than trusting ``RolloutBatch.logprobs`` here.

Colocated use (one GPU shared by trainer and vLLM): create it with
``VLLM_ENABLE_V1_MULTIPROCESSING=0`` in the environment so the engine runs in this process, keep
``gpu_memory_utilization`` low, and call ``sync_weights(model)`` after every optimizer step.
"""

from __future__ import annotations

from typing import Any

import torch

from hybridrl.rollout.types import RolloutBatch, SamplingParams


class VLLMGenerator:
    """vLLM ``LLM`` engine behind the ``Generator`` interface.

    Args:
        model_path: HF folder (or hub id) vLLM loads its initial weights from; pass the same
            folder the training model came from (e.g. ``smollm2_folder()``).
        tokenizer: the HF tokenizer (pad/eos ids, decoding).
        gpu_memory_utilization, dtype, max_model_len, seed: forwarded to ``vllm.LLM``.
        llm_kwargs: any further ``vllm.LLM`` arguments.
    """

    def __init__(
        self,
        model_path: str,
        tokenizer: Any,
        *,
        gpu_memory_utilization: float = 0.3,
        dtype: str = "bfloat16",
        max_model_len: int | None = None,
        seed: int = 0,
        **llm_kwargs: Any,
    ) -> None:
        try:
            import vllm
        except ImportError as err:
            raise ImportError(
                "VLLMGenerator needs vLLM (CUDA only): `pip install 'hybridrl[vllm]'`, "
                "or use HFGenerator (works on CPU and GPU)."
            ) from err
        self._vllm = vllm
        self.tokenizer = tokenizer
        pad = tokenizer.pad_token_id
        self.pad_token_id = int(pad if pad is not None else tokenizer.eos_token_id)
        self.llm = vllm.LLM(
            model=model_path,
            tokenizer=model_path,
            gpu_memory_utilization=gpu_memory_utilization,
            dtype=dtype,
            max_model_len=max_model_len,
            seed=seed,
            **llm_kwargs,
        )
        self.last_stats: dict[str, float] = {}

    def sync_weights(self, model: Any) -> None:
        """Copy the training model's current weights into the engine (TP=1).

        Uses the in-process model runner when reachable (vLLM V0, or V1 with
        ``VLLM_ENABLE_V1_MULTIPROCESSING=0``), else ``LLM.apply_model`` (pickles the weights to the
        worker: correct but slow for large models).
        """
        unwrapped = model.merge_and_unload() if hasattr(model, "merge_and_unload") else model
        weights = [(name, p.detach()) for name, p in unwrapped.state_dict().items()]
        try:
            runner_model = self.llm.llm_engine.model_executor.driver_worker.model_runner.model
        except AttributeError:
            runner_model = None
        if runner_model is not None:
            runner_model.load_weights(weights)
        else:
            cpu_weights = [(name, w.cpu()) for name, w in weights]
            self.llm.apply_model(lambda m: m.load_weights(cpu_weights))
        if hasattr(self.llm, "reset_prefix_cache"):
            self.llm.reset_prefix_cache()  # cached KV blocks were computed with the old weights

    def generate(self, prompt_ids: list[list[int]], params: SamplingParams) -> RolloutBatch:
        import time

        sampling = self._vllm.SamplingParams(
            n=params.n,
            max_tokens=params.max_new_tokens,
            temperature=0.0 if params.greedy else params.temperature,
            top_p=1.0 if params.greedy else params.top_p,
            top_k=-1 if (params.greedy or params.top_k == 0) else params.top_k,
            seed=params.seed,
            logprobs=0,  # the sampled token's log-prob only
        )
        start = time.perf_counter()
        outputs = self.llm.generate(
            [{"prompt_token_ids": list(p)} for p in prompt_ids], sampling, use_tqdm=False
        )
        seconds = time.perf_counter() - start

        index, seqs, lps, reasons = [], [], [], []
        for p, request in enumerate(outputs):  # vLLM keeps the input order
            for completion in request.outputs:
                ids = list(completion.token_ids)
                index.append(p)
                seqs.append(ids)
                lps.append(
                    [step[tok].logprob for step, tok in zip(completion.logprobs or [], ids)]
                    or [0.0] * len(ids)
                )
                reasons.append("stop" if completion.finish_reason == "stop" else "length")
        width = max((len(s) for s in seqs), default=0) or 1
        n = len(seqs)
        completion_ids = torch.full((n, width), self.pad_token_id, dtype=torch.long)
        completion_mask = torch.zeros((n, width))
        logprobs = torch.zeros((n, width))
        for i, (ids, lp) in enumerate(zip(seqs, lps)):
            completion_ids[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
            completion_mask[i, : len(ids)] = 1.0
            logprobs[i, : len(lp)] = torch.tensor(lp)
        tokens = int(completion_mask.sum())
        self.last_stats = {
            "tokens": tokens,
            "seconds": seconds,
            "tokens_per_s": tokens / max(seconds, 1e-9),
            "num_samples": n,
        }
        return RolloutBatch(
            prompt_ids=[list(p) for p in prompt_ids],
            prompt_index=torch.tensor(index, dtype=torch.long),
            completion_ids=completion_ids,
            completion_mask=completion_mask,
            logprobs=logprobs,
            texts=[self.tokenizer.decode(s, skip_special_tokens=True) for s in seqs],
            finish_reasons=reasons,
        )
