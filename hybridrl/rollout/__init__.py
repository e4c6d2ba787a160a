"""Rollout: prompts -> completions with sampling log-probs, and log-probs of given completions.

- ``types``: ``SamplingParams``, ``RolloutBatch`` (the records passed to the rest of the loop).
- ``generator``: the ``Generator`` protocol and ``HFGenerator`` (HF generate, CPU/GPU, bf16 option).
- ``vllm_generator``: optional ``VLLMGenerator`` (GPU, vLLM imported lazily).
- ``logprobs``: ``sequence_logprobs`` (the training forward: log-probs, entropy, hidden states).

Nothing heavy is imported here; import the submodules.
"""
