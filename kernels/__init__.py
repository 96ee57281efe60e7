"""paste.kernels: attention and KV-store kernels behind paste.engine.attention's registry.

    torch_ref.py           readable torch reference (any device); the ground truth in tests
    cpu_attention.py       handle to the C++ paged-attention kernel in paste._core (CPU)
    triton_attention.py    Triton KV-store + paged-attention kernels (GPU; CPU interpreter)
    flashinfer_backend.py  FlashInfer paged prefill/decode wrappers (CUDA)
    cuda_backend.py        handle to paste's own CUDA kernels in paste._core.cuda (CUDA)
    backend_common.py      what the backends share: head shape, the native backends' checks

Importing this package imports nothing heavy: each backend module imports Triton,
FlashInfer or the native core itself, and is imported only when its backend is created.
"""
