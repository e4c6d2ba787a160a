"""hybridrl: post-train language models for reasoning with SFT, RL and their hybrids.

Package import is kept light: nothing heavy (torch, transformers) is imported here.
"""

__version__ = "0.1.0"
