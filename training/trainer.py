"""One training run, top to bottom: prepare the folder, build, (resume,) train, save.

The recipe is the authors' (SPEC §3): cross-entropy, SGD with momentum (Nesterov when
asked) and weight decay, the learning rate multiplied by 0.1 at each of `fixed_steps`
(MultiStepLR stepped once per epoch), the test set evaluated after every epoch, the
final weights saved (no model selection).

Crash safety: every file is written atomically, and a checkpoint at the end of every
epoch holds everything the next epoch depends on (weights, optimizer, schedule, epoch,
RNG states, log). The data order depends only on (seed, epoch), so a run killed at any
moment and resumed ends with the same weights as an uninterrupted one (on the CPU;
cuDNN's autotuned kernels are not bitwise deterministic).
"""
import ctypes
import math
import sys
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

import atomic_files
from datasets.cifar10 import load_cifar10
from datasets.loader import TestBatches, TrainBatches
from errors import UserError
from models import build_model_from_opt, count_parameters
import run_folder as rf
from training.options import configuration, device_type, optimizer_kw


class TrainingDiverged(UserError):
    exit_code = 3


# --------------------------------------------------------------------------- run folder

def prepare_folder(opt: dict):
    """Decide what to do with the run folder. Returns the checkpoint to resume, None to
    start fresh, or "finished" when there is nothing to do. Refusals change nothing."""
    folder = Path(opt["folder"])
    state = rf.run_state(folder)
    if state == rf.ABSENT and not (folder / rf.CHECKPOINT_FILE).exists():
        return None
    if opt["do_overwrite"]:
        return None  # the old files are replaced one by one as the new run writes them
    if not opt["resume"]:
        what = "a finished run" if state == rf.FINISHED else "a started run"
        raise UserError(f"{folder} already holds {what}; pass --resume to continue it or "
                        "--do_overwrite to start over")
    old_opt = rf.read_opt(folder)
    old_type = device_type(old_opt.get("device") or opt["device"])
    if old_type != device_type(opt["device"]):
        # Another GPU is fine (a requeued job may land on one); another kind of device is
        # not: a resumed run ends with the uninterrupted run's weights only on the same kind.
        raise UserError(f"--resume refused: {folder} was started on {old_type}, not "
                        f"{device_type(opt['device'])}; resume it with --device {old_type}, "
                        "or start over with --do_overwrite")
    old, new = configuration(old_opt), configuration(opt)
    diff = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    if diff:
        details = ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in diff[:4])
        raise UserError(f"--resume refused: {folder}/opt.json is a different run ({details}); "
                        "use the same options, or another --folder")
    if state == rf.FINISHED:
        return "finished"
    # The run keeps the time it was first started; each resume is listed after it.
    opt["resumed_at"] = [*old_opt.get("resumed_at", []), opt["start_time"]]
    opt["start_time"] = old_opt.get("start_time", opt["start_time"])
    checkpoint_path = folder / rf.CHECKPOINT_FILE
    if not checkpoint_path.is_file():
        return None  # killed before its first epoch ended: nothing to resume
    try:
        return torch.load(checkpoint_path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise UserError(f"{checkpoint_path} is unreadable ({type(e).__name__}); delete it to "
                        "restart the run from epoch 0, or use --do_overwrite") from None


def check_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_files.atomic_path(folder / ".write_test") as tmp:
            tmp.write_bytes(b"")
        (folder / ".write_test").unlink()
    except OSError as e:
        raise UserError(f"cannot write to the run folder {folder} ({e.strerror}); "
                        "choose a writable --folder") from None


def new_log() -> dict:
    keys = ["epoch", "loss", "sec", "lr", "num_samples", "acc", "er",
            "val_loss", "val_num_samples", "val_acc", "val_er"]
    return {k: [] for k in keys}


# ------------------------------------------------------------------------------- build

def load_data(opt: dict, device: str):
    train_x, train_y = load_cifar10("train")
    test_x, test_y = load_cifar10("test")
    train_x, train_y = train_x[:opt["train_subset"]], train_y[:opt["train_subset"]]
    test_x, test_y = test_x[:opt["test_subset"]], test_y[:opt["test_subset"]]
    train = TrainBatches(train_x, train_y, opt["bs"], device, seed=opt["seed"],
                         channels_last=opt["channels_last"])
    test = TestBatches(test_x, test_y, opt["bs"], device, channels_last=opt["channels_last"])
    return train, test


def build_optimizer(opt: dict, model):
    optimizer = torch.optim.SGD(model.parameters(), lr=opt["lr"], momentum=opt["mom"],
                                weight_decay=opt["wd"], **optimizer_kw(opt))
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=opt["fixed_steps"],
                                                     gamma=0.1)
    return optimizer, scheduler


def autocast_context(opt: dict, device: str):
    if opt["amp"] == "off":
        return nullcontext()
    dtype = torch.bfloat16 if opt["amp"] == "bf16" else torch.float16
    return torch.autocast(device_type=torch.device(device).type, dtype=dtype)


# ------------------------------------------------------------------------------ phases

def _glibc():
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:  # not glibc (macOS, musl, Windows): nothing to tune
        return None


@contextmanager
def cpu_memory_kept(device):
    """On the CPU, keep freed memory in the process while training.

    A CPU step allocates and frees many activation-sized buffers (16-32 MiB at batch 128).
    glibc's malloc serves those with fresh mmap()s or hands the top of its heap back to
    the kernel after each free, so every step page-faults (and zero-fills) its activations
    again: up to ~15% of a CifarMinFP-LS step on a 2-core CPU. Raising the mmap and trim
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


def train_epoch(model, step_model, batches, epoch, optimizer, scaler, autocast, opt):
    model.train()
    device = next(model.parameters()).device
    # Metrics stay on the device: reading them every step would wait for the GPU.
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    bar = tqdm(batches.epoch(epoch), total=len(batches), desc=f"epoch {epoch:3d}",
               leave=False, file=sys.stderr, mininterval=1.0 if sys.stderr.isatty() else 60.0)
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
            if step % max(opt["print_freq"], 1) == 0 or step == len(batches):
                running_loss = loss_sum.item() / seen  # one sync every print_freq steps
                if not math.isfinite(running_loss):
                    raise TrainingDiverged(
                        f"the training loss became {running_loss} in epoch {epoch}, step {step}; "
                        "the run stopped and its last good checkpoint is kept: lower --lr, or "
                        "use --amp off")
                # refresh=False: the bar redraws at most every mininterval (60 s into a
                # log file), not at every update of its numbers.
                bar.set_postfix(loss=f"{running_loss:.3f}", acc=f"{correct.item() / seen:.3f}",
                                refresh=False)
    bar.close()
    return loss_sum.item() / seen, correct.item() / seen, seen


@torch.inference_mode()
def evaluate(step_model, model, batches, autocast):
    model.eval()
    device = next(model.parameters()).device
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    for x, y in batches:
        with autocast:
            logits = step_model(x)
        loss_sum += F.cross_entropy(logits.float(), y, reduction="sum")
        correct += (logits.argmax(1) == y).sum()
        seen += len(y)
    return loss_sum.item() / seen, correct.item() / seen, seen


def synchronize(device: str):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


# -------------------------------------------------------------------------------- main

def plain_state_dict(model) -> dict:
    """Weights in the authors' layout: plain keys, contiguous tensors on the CPU."""
    return {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}


def train(opt: dict) -> int:
    """Train the run described by `opt` (see training.options); returns an exit code."""
    folder = Path(opt["folder"])
    device = opt["device"]
    torch.manual_seed(opt["seed"])
    model = build_model_from_opt(opt)  # raises on a bad model type or size, before any write
    checkpoint = prepare_folder(opt)
    if checkpoint == "finished":
        print(f"{folder}: already finished ({opt['epochs']} epochs); nothing to do")
        return 0
    # Missing or corrupt data is refused before the run folder is created.
    train_batches, test_batches = load_data(opt, device)
    check_writable(folder)
    if opt["resume"] or opt["do_overwrite"]:
        rf.remove_temp_files(folder)

    if not opt["grad_checkpointing"]:
        for module in model.modules():
            if hasattr(module, "efficient"):  # DenseNet layers (models/blocks.py)
                module.efficient = False
    if device.startswith("cuda"):
        # Autotuned convolution kernels: faster, but not bitwise reproducible on the GPU.
        torch.backends.cudnn.benchmark = opt["cudnn_benchmark"]
    memory_format = torch.channels_last if opt["channels_last"] else torch.contiguous_format
    model = model.to(device=device, memory_format=memory_format)
    optimizer, scheduler = build_optimizer(opt, model)
    scaler = torch.amp.GradScaler(torch.device(device).type, enabled=opt["amp"] == "fp16")
    log, start_epoch = new_log(), 0
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        scaler.load_state_dict(checkpoint["scaler"])
        torch.set_rng_state(checkpoint["rng"]["torch"])
        log, start_epoch = checkpoint["log"], checkpoint["epoch"]
        print(f"{folder}: resuming at epoch {start_epoch}")
    elif opt["do_overwrite"]:
        (folder / rf.CHECKPOINT_FILE).unlink(missing_ok=True)
        (folder / rf.MODEL_FILE).unlink(missing_ok=True)
    step_model = torch.compile(model) if opt["compile"] else model
    autocast = autocast_context(opt, device)

    num_params = count_parameters(model)
    atomic_files.write_json(folder / rf.OPT_FILE, opt, indent=1)
    atomic_files.write_json(folder / rf.SPECS_FILE,
                            {"num_trainable": float(num_params), "num_params": float(num_params)})
    atomic_files.write_json(folder / rf.LOG_FILE, log)
    print(f"{opt['model_type']} ({num_params:,} parameters) on {device}: "
          f"{len(train_batches.labels)} training / {len(test_batches.labels)} test images, "
          f"epochs {start_epoch}..{opt['epochs'] - 1} -> {folder}", flush=True)

    for epoch in range(start_epoch, opt["epochs"]):
        lr = optimizer.param_groups[0]["lr"]
        synchronize(device)
        t0 = time.perf_counter()
        loss, acc, n = train_epoch(model, step_model, train_batches, epoch, optimizer, scaler,
                                   autocast, opt)
        synchronize(device)
        train_sec = time.perf_counter() - t0
        scheduler.step()
        for key, value in dict(epoch=epoch, loss=loss, sec=train_sec, lr=lr, num_samples=n,
                               acc=acc, er=100.0 * (1 - acc)).items():
            log[key].append(value)
        atomic_files.write_json(folder / rf.LOG_FILE, log)

        t0 = time.perf_counter()
        val_loss, val_acc, val_n = evaluate(step_model, model, test_batches, autocast)
        val_sec = time.perf_counter() - t0
        for key, value in dict(epoch=epoch, sec=val_sec, lr=-1.0, val_loss=val_loss,
                               val_num_samples=val_n, val_acc=val_acc,
                               val_er=100.0 * (1 - val_acc)).items():
            log[key].append(value)
        if not math.isfinite(val_loss):
            raise TrainingDiverged(f"the test loss became {val_loss} after epoch {epoch}; the "
                                   "run stopped and its last good checkpoint is kept: lower --lr")
        atomic_files.write_json(folder / rf.LOG_FILE, log)
        atomic_files.torch_save(folder / rf.CHECKPOINT_FILE, {
            "model": plain_state_dict(model), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
            "epoch": epoch + 1, "log": log, "opt": configuration(opt),
            "rng": {"torch": torch.get_rng_state()}})
        print(f"epoch {epoch:3d}  lr {lr:.4g}  loss {loss:.4f}  train er {100 * (1 - acc):5.2f}%  "
              f"test er {100 * (1 - val_acc):5.2f}%  ({train_sec:.1f}s + {val_sec:.1f}s)",
              flush=True)

    atomic_files.torch_save(folder / rf.MODEL_FILE, plain_state_dict(model))
    print(f"finished: final test error {log['val_er'][-1]:.2f}% -> {folder / rf.MODEL_FILE}")
    return 0

