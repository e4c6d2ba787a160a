"""Data parallelism: the ``Parallel`` engine (one process, torch DDP or FSDP2; gradient sums,
lock-step padding, full weights for generation) in :mod:`~hybridrl.distributed.parallel`, and
sharded state I/O with ``torch.distributed.checkpoint`` in :mod:`~hybridrl.distributed.sharded`.
It imports nothing else of hybridrl; the training loop (``hybridrl.training``) drives it and lays
out the checkpoint folders around the shards (:mod:`hybridrl.training.persistence.checkpoint`)."""
