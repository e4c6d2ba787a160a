"""Training: config, loop, checkpoints, run folders.

``from hybridrl import train`` gives this package, which is also callable: ``train(cfg)`` is
:func:`hybridrl.api.train` (``hybridrl/__init__.py`` makes it so, without this package importing
anything above it).
"""
