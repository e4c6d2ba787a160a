"""hybridrl's controllers and losses inside the engines users already run (TRL, verl).

- :mod:`hybridrl.integrations.trl`: ``HybridGRPOTrainer``, a ``trl.GRPOTrainer`` subclass that
  trains any single-update hybridrl method (HPT and its OFF/Mix variants, LUFFY, SuperRL's
  Hybrid Actor, SASR's step switch, ...) with TRL's generation, reward functions and Trainer.
  Extra: ``pip install 'hybridrl[trl]'``.
- :mod:`hybridrl.integrations.verl`: hybridrl's presets registered as verl policy losses
  (``register_policy_loss``) and advantage estimators, loaded through the ``verl.plugins``
  entry point. Extra: ``pip install 'hybridrl[verl]'``.

Neither module is imported by ``import hybridrl``: the default install needs neither engine.
Both call the public pieces (controllers' ``plan``, ``core.presets.term_loss``,
``core.aggregation.agg_loss``, ``train.optimize``): there is no second copy of the loss math.
"""
