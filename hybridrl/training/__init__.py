"""Training: the step loop, the update engine and run persistence, in three subpackages.

- :mod:`hybridrl.training.loop`: what assembles a run and drives its steps (the trainer, its
  setup, data, prompt sampler, held-out scoring, interrupts, and the runner around one run);
- :mod:`hybridrl.training.update`: one controller ``Update`` -> optimizer step(s) (loss terms,
  micro- and mini-batches, named optimizer states);
- :mod:`hybridrl.training.persistence`: what a run leaves behind (checkpoints, config and
  resume, metrics records, trackers).

``loop`` imports the other two; ``update`` and ``persistence`` import neither each other nor
``loop`` (``tests/test_layers.py``). The Python API's training function is
:func:`hybridrl.train` (:mod:`hybridrl.api`), not this package.
"""
