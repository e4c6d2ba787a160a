"""Rollout fixtures: the generator tests run against every engine that is installed.

The tiny model here has hidden size 128 (head size 32): vLLM's CPU attention supports head sizes
32, 64, 80, ... but not the default tiny model's 16. One vLLM engine (~1 min to start on 2 busy
cores, most of it importing vLLM) is shared by the whole session; each test's generator pushes its
own model's weights into it before sampling (``VLLMGenerator(llm=...)``).
"""

from __future__ import annotations

import os

import pytest

from hybridrl.models.tiny import build_tiny_model, build_tiny_tokenizer
from hybridrl.rollout.vllm_generator import vllm_available

ENGINES = ["hf", pytest.param("vllm", marks=pytest.mark.skipif(not vllm_available(), reason="vllm not installed"))]


def tiny_pair(seed: int = 0):
    tok = build_tiny_tokenizer()
    return build_tiny_model(tok, seed=seed, hidden=128), tok


@pytest.fixture(scope="session")
def vllm_engine():
    """One fp32 vLLM engine for the tiny architecture, shared by every vLLM test."""
    if not vllm_available():
        pytest.skip("vllm not installed")
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    from hybridrl.rollout.vllm_generator import VLLMGenerator

    model, tok = tiny_pair()
    gen = VLLMGenerator(model, tok, kv_cache_gib=0.25, max_model_len=512)
    yield gen.llm
    gen.close()


@pytest.fixture(params=ENGINES)
def engine(request):
    return request.param


@pytest.fixture
def make_generator(engine, request):
    """``make_generator(model, tok, **kw)`` -> a generator of the test's engine."""
    if engine == "hf":
        from hybridrl.rollout.generator import HFGenerator

        return HFGenerator
    from hybridrl.rollout.vllm_generator import VLLMGenerator

    llm = request.getfixturevalue("vllm_engine")
    return lambda model, tok, **kw: VLLMGenerator(model, tok, llm=llm, **kw)
