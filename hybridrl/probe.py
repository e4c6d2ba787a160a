"""Moved to :mod:`hybridrl.pipelines.probe` (orchestration sits above train, eval and report).
This old name is the same module object, kept only until its last importer moves."""

import sys

from hybridrl.pipelines import probe as _moved

sys.modules[__name__] = _moved
