"""Models: resolve a MODEL name into (model, tokenizer).

- ``loading``: ``load_model_and_tokenizer(name)`` for ``tiny``, ``smollm2-135m``, a local HF
  folder or a hub id; ``load_reference_copy(model)`` for a frozen KL reference.
- ``tiny``: random tiny Llama/Qwen2 + character-level ChatML tokenizer, built in code (tests).
- ``smollm2``: one-time, crash-safe GGUF -> HF conversion of the packaged SmolLM2-135M-Instruct.

Nothing heavy is imported here; import the submodules.
"""
