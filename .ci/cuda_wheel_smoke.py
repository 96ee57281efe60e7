"""Smoke check of a CUDA wheel unpacked on PYTHONPATH (run with -S, so no installed paste is
seen): the module imports without a GPU, says it was built with CUDA, and a kernel call on a
machine without a GPU raises paste.errors.CudaUnavailableError."""

import paste._core as core

from paste.errors import CudaUnavailableError

cuda = core.cuda
if not cuda.built:
    raise SystemExit(f"{core.__file__} was built without CUDA")
print(f"{core.__file__}: CUDA kernels for sm {cuda.architectures}, {cuda.device_count()} device(s)")
if cuda.device_count() == 0:
    try:
        cuda.sample(1, 8, 0, 8, (0, 0, 0, 0, 0), 0)
    except CudaUnavailableError as error:
        print(f"no GPU here; a kernel call raises CudaUnavailableError: {error}")
    else:
        raise SystemExit("a CUDA kernel call without a GPU did not raise CudaUnavailableError")
