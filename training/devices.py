"""Small facts about the device a run trains or predicts on, shared by the trainer, the
prediction scripts (robustness/) and the benchmarks."""
import ctypes
from contextlib import contextmanager

import torch


def device_type(device) -> str:
    """'cuda:1' -> 'cuda', 'cpu' -> 'cpu'."""
    return str(device).split(":")[0]


def synchronize(device) -> None:
    """Wait for the device's queued work (CUDA runs asynchronously), so that a clock read
    afterwards measures it; nothing to wait for on the CPU."""
    if device_type(device) == "cuda":
        torch.cuda.synchronize(device)


def _glibc():
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:  # not glibc (macOS, musl, Windows): nothing to tune
        return None


@contextmanager
def cpu_memory_kept(device):
    """On the CPU, keep freed memory in the process while training or predicting.

    A CPU step allocates and frees many activation-sized buffers (16-32 MiB at batch 128;
    a JPEG prediction batch of 200 images x 10 versions, more).
    glibc's malloc serves those with fresh mmap()s or hands the top of its heap back to
    the kernel after each free, so every step page-faults (and zero-fills) its activations
    again: up to ~15% of a CifarMinFP-LS step on a 2-core CPU, and up to a third of a
    small prediction script's time (measured in system time). Raising the mmap and trim
    thresholds keeps the memory for reuse (the process holds its peak footprint; no effect
    on numerics). On exit the thresholds go back to where glibc's own dynamic rule settles
    for such buffers (mmap 32 MiB, trim twice that) and the kept memory is returned.
    CUDA tensors use PyTorch's caching allocator, so nothing is done there.
    """
    libc = _glibc() if torch.device(device).type == "cpu" else None
    if libc is None:
        yield
        return
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    libc.mallopt(M_MMAP_THRESHOLD, 1 << 30)
    libc.mallopt(M_TRIM_THRESHOLD, 1 << 30)
    try:
        yield
    finally:
        libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)
        libc.mallopt(M_TRIM_THRESHOLD, 64 << 20)
        libc.malloc_trim(0)
