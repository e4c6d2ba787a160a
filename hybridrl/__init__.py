"""hybridrl: post-train language models for reasoning with SFT, RL and their hybrids.

Python API (same checks as the CLI; see :mod:`hybridrl.api`)::

    from hybridrl import TrainConfig, train, evaluate, compare
    summary = train(TrainConfig(method="grpo", model="tiny", task="chain_sum", steps=2))

Package import is kept light: nothing heavy (torch, transformers) is imported here.
"""

__version__ = "0.1.0"

__all__ = ["TrainConfig", "ConfigError", "train", "evaluate", "compare", "__version__"]

import types as _types


class _CallableTrainPackage(_types.ModuleType):
    """``hybridrl.train`` is a package (config, loop, ...) and the API's training function at
    once: ``import hybridrl.config`` binds the package to ``hybridrl.train`` whatever this
    module defines, so the package itself is made callable."""

    def __call__(self, *args, **kwargs):
        from hybridrl.api import train

        return train(*args, **kwargs)


def _callable_train_package() -> None:
    import importlib

    importlib.import_module("hybridrl.training").__class__ = _CallableTrainPackage  # light: its __init__ is a docstring


_callable_train_package()


def __getattr__(name: str):
    # lazy: `import hybridrl` stays cheap; `hybridrl.train` is the (callable) training package
    if name in ("TrainConfig", "ConfigError"):
        import hybridrl.config as config

        return getattr(config, name)
    if name in ("evaluate", "compare"):
        from hybridrl import api

        return getattr(api, name)
    if name == "train":
        import importlib

        return importlib.import_module("hybridrl.training")
    raise AttributeError(f"module 'hybridrl' has no attribute {name!r}")
