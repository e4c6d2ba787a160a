"""hybridrl: post-train language models for reasoning with SFT, RL and their hybrids.

Python API (same checks as the CLI; see :mod:`hybridrl.api`)::

    from hybridrl import TrainConfig, train, evaluate, compare
    summary = train(TrainConfig(method="grpo", model="tiny", task="chain_sum", steps=2))

Package import is kept light: nothing heavy (torch, transformers) is imported here.
"""

__version__ = "0.1.0"

__all__ = ["TrainConfig", "ConfigError", "train", "evaluate", "compare", "__version__"]


def __getattr__(name: str):
    # lazy: `import hybridrl` stays cheap (the training code is hybridrl.training)
    if name in ("TrainConfig", "ConfigError"):
        import hybridrl.config as config

        return getattr(config, name)
    if name in ("train", "evaluate", "compare"):
        from hybridrl import api

        return getattr(api, name)
    raise AttributeError(f"module 'hybridrl' has no attribute {name!r}")
