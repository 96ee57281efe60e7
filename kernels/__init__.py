"""paste.kernels: attention and KV-store kernels behind paste.engine.attention's registry.

    torch_ref.py           readable torch reference (any device); the ground truth in tests
    triton_attention.py    Triton KV-store + paged-attention kernels (GPU; CPU interpreter)
    flashinfer_backend.py  FlashInfer paged prefill/decode wrappers (CUDA)

Importing this package imports nothing heavy: each backend module imports Triton or
FlashInfer itself, and those modules are only imported when their backend is created.
"""
