"""One pass over the data: a training epoch and an evaluation, as the recipe has them
(docs/reference.md §3): cross-entropy, one optimizer step per batch, metrics summed on the device."""
import math
import sys
from contextlib import nullcontext

import torch
import torch.nn.functional as F
from tqdm import tqdm

from errors import UserError
from training.devices import cpu_memory_kept


class TrainingDiverged(UserError):
    exit_code = 3


def autocast_context(amp: str, device):
    """The autocast of --amp: off, bf16 or fp16."""
    if amp == "off":
        return nullcontext()
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    return torch.autocast(device_type=torch.device(device).type, dtype=dtype)


def _progress_bar(batches, epoch):
    # Into a log file (not a terminal) the bar is redrawn at most once a minute.
    return tqdm(batches.epoch(epoch), total=len(batches), desc=f"epoch {epoch:3d}",
                leave=False, file=sys.stderr, mininterval=1.0 if sys.stderr.isatty() else 60.0)


def _check_finite(running_loss: float, epoch: int, step: int) -> None:
    if not math.isfinite(running_loss):
        raise TrainingDiverged(
            f"the training loss became {running_loss} in epoch {epoch}, step {step}")


def train_epoch(model, step_model, batches, epoch, optimizer, scaler, autocast,
                print_freq: int = 50):
    """One epoch of SGD steps; returns (mean loss, accuracy, images seen).

    `model` holds the parameters, `step_model` computes (the model itself, or its
    torch.compile wrapper). Every `print_freq` steps the running loss is read (one device
    sync), checked to be finite and shown on the progress bar."""
    model.train()
    device = next(model.parameters()).device
    # Metrics stay on the device: reading them every step would wait for the GPU.
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    bar = _progress_bar(batches, epoch)
    with cpu_memory_kept(device):
        for step, (x, y) in enumerate(bar, 1):
            with autocast:
                logits = step_model(x)
                loss = F.cross_entropy(logits, y)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            loss_sum += loss.detach().float() * len(y)
            correct += (logits.detach().argmax(1) == y).sum()
            seen += len(y)
            if step % max(print_freq, 1) == 0 or step == len(batches):
                running_loss = loss_sum.item() / seen
                _check_finite(running_loss, epoch, step)
                # refresh=False: the bar redraws at its own pace, not at every update.
                bar.set_postfix(loss=f"{running_loss:.3f}", acc=f"{correct.item() / seen:.3f}",
                                refresh=False)
    bar.close()
    return loss_sum.item() / seen, correct.item() / seen, seen


@torch.inference_mode()
def evaluate(model, step_model, batches, autocast):
    """Mean loss, accuracy and images seen over `batches`, in eval mode."""
    model.eval()
    device = next(model.parameters()).device
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    with cpu_memory_kept(device):
        for x, y in batches:
            with autocast:
                logits = step_model(x)
            loss_sum += F.cross_entropy(logits.float(), y, reduction="sum")
            correct += (logits.argmax(1) == y).sum()
            seen += len(y)
    return loss_sum.item() / seen, correct.item() / seen, seen
