"""Training: config, loop, checkpoints, run folders.

``from hybridrl import train`` is both this package and the training function of the Python
API (:func:`hybridrl.api.train`): calling the package trains, so the name works whichever was
imported first (``import hybridrl.train.config`` binds the package to ``hybridrl.train``).
"""

import sys as _sys
import types as _types


class _CallableModule(_types.ModuleType):
    def __call__(self, *args, **kwargs):
        from hybridrl.api import train

        return train(*args, **kwargs)


_sys.modules[__name__].__class__ = _CallableModule
