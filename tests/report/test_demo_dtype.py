"""The demo picks bf16 autocast only where bf16 is native (else it is slower than fp32)."""

from hybridrl.pipelines.demo import fast_bf16


def test_bf16_only_with_native_cpu_support(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert fast_bf16("flags\t: fpu sse2 avx avx2 fma") is False  # AVX2 only: emulated bf16
    assert fast_bf16("flags\t: fpu avx2 avx512f avx512_bf16") is True
    assert fast_bf16("flags\t: fpu avx2 avx512f amx_bf16 amx_tile") is True
    assert fast_bf16("flags\t: fpu avx512f avx512_bf16_ne") is False  # exact flag names only
