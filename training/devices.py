"""Small facts about the device a run trains on, shared by the trainer and the benchmarks."""
import torch


def device_type(device) -> str:
    """'cuda:1' -> 'cuda', 'cpu' -> 'cpu'."""
    return str(device).split(":")[0]


def synchronize(device) -> None:
    """Wait for the device's queued work (CUDA runs asynchronously), so that a clock read
    afterwards measures it; nothing to wait for on the CPU."""
    if device_type(device) == "cuda":
        torch.cuda.synchronize(device)
