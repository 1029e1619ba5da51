"""One training run, top to bottom: plan, lock the folder, build, restore, train, save.

The recipe is the authors' (docs/reference.md §3): cross-entropy, SGD with momentum (Nesterov when
asked) and weight decay, the learning rate multiplied by 0.1 at each of `fixed_steps`
(MultiStepLR stepped once per epoch), the test set evaluated after every epoch, the
final weights saved (no model selection).

Crash safety: one process per run folder (its lock, held for the whole run); every file
written atomically; a checkpoint at the end of every epoch holds everything the next
epoch depends on (weights, optimizer, schedule, epoch, RNG states, log, options). The
data order depends only on (seed, epoch) and a resumed run uses the thread count it
started with, so a run killed at any moment and resumed ends with the same weights as an
uninterrupted one (on the CPU; cuDNN's autotuned kernels are not bitwise deterministic).
"""
import contextlib
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch

import atomic_files
import run_folder as rf
from datasets import catalog
from datasets.identity import describe
from datasets.loader import EvalBatches, TrainBatches
from errors import UserError, counted
from precision import error_text
from models import build_model_from_opt, count_parameters
from training.devices import synchronize
from training.epoch import TrainingDiverged, autocast_context, evaluate, train_epoch
from training.options import optimizer_kw
from training.run_plan import FINISHED, RESTART, RESUME, plan_run, recorded_options

__all__ = ["train", "TrainingDiverged", "build_optimizer"]


# ------------------------------------------------------------------------------- build

def load_data(opt: dict):
    data = catalog.data_set(opt["dataset"])
    train_x, train_y = data.load("train")
    test_x, test_y = data.load("test")
    train_x, train_y = train_x[:opt["train_subset"]], train_y[:opt["train_subset"]]
    test_x, test_y = test_x[:opt["test_subset"]], test_y[:opt["test_subset"]]
    train = TrainBatches(train_x, train_y, opt["bs"], opt["device"], seed=opt["seed"],
                         channels_last=opt["channels_last"], mean=data.mean, std=data.std)
    test = EvalBatches(test_x, test_y, opt["bs"], opt["device"],
                       channels_last=opt["channels_last"], mean=data.mean, std=data.std)
    return train, test


def build_optimizer(opt: dict, model):
    optimizer = torch.optim.SGD(model.parameters(), lr=opt["lr"], momentum=opt["mom"],
                                weight_decay=opt["wd"], **optimizer_kw(opt))
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=opt["fixed_steps"],
                                                     gamma=0.1)
    return optimizer, scheduler


@dataclass
class Session:
    """What the training loop steps: the model (and what computes with it), optimizer,
    schedule and gradient scaler, the autocast, and the log so far."""
    model: torch.nn.Module
    step_model: torch.nn.Module  # the model, or its torch.compile wrapper
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    autocast: object
    log: dict
    start_epoch: int = 0


def build_session(opt: dict, model) -> Session:
    device = opt["device"]
    model.set_grad_checkpointing(opt["grad_checkpointing"])
    if device.startswith("cuda"):
        # Autotuned convolution kernels: faster, but not bitwise reproducible on the GPU.
        torch.backends.cudnn.benchmark = opt["cudnn_benchmark"]
    memory_format = torch.channels_last if opt["channels_last"] else torch.contiguous_format
    model = model.to(device=device, memory_format=memory_format)
    optimizer, scheduler = build_optimizer(opt, model)
    scaler = torch.amp.GradScaler(torch.device(device).type, enabled=opt["amp"] == "fp16")
    step_model = torch.compile(model) if opt["compile"] else model
    return Session(model, step_model, optimizer, scheduler, scaler,
                   autocast_context(opt["amp"], device), rf.new_log())


# -------------------------------------------------------------------- the run folder

@contextlib.contextmanager
def folder_locked(folder: Path):
    """Hold the run folder's lock (creating the folder) for the whole run."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock = contextlib.ExitStack()
        lock.enter_context(rf.locked(folder))
    except OSError as e:
        raise UserError(f"cannot write to the run folder {folder} ({e.strerror}); "
                        "choose a writable --folder") from None
    with lock:
        yield


def check_writable(folder: Path) -> None:
    try:
        atomic_files.write_bytes(folder / ".write_test", b"")
        (folder / ".write_test").unlink()
    except OSError as e:
        raise UserError(f"cannot write to the run folder {folder} ({e.strerror}); "
                        "choose a writable --folder") from None


def restore(session: Session, folder: Path, plan) -> None:
    """Continue from the checkpoint (RESUME), or clear an earlier run's weights."""
    if plan.action == RESUME:
        checkpoint = rf.read_checkpoint(folder)
        session.model.load_state_dict(checkpoint["model"])
        session.optimizer.load_state_dict(checkpoint["optimizer"])
        session.scheduler.load_state_dict(checkpoint["scheduler"])
        session.scaler.load_state_dict(checkpoint["scaler"])
        torch.set_rng_state(checkpoint["rng"]["torch"])
        session.log, session.start_epoch = checkpoint["log"], checkpoint["epoch"]
        print(f"{folder}: resuming at epoch {session.start_epoch}")
    elif plan.action == RESTART:
        print(f"{folder}: no epoch finished before it stopped, nothing to resume; "
              "restarting at epoch 0")
    elif plan.overwrite:
        rf.discard_weights(folder)


def plain_state_dict(model) -> dict:
    """Weights in the authors' layout: plain keys, contiguous tensors on the CPU."""
    return {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}


def save_checkpoint(folder: Path, session: Session, epoch: int, opt: dict) -> None:
    rf.save_checkpoint(folder, {
        "model": plain_state_dict(session.model), "optimizer": session.optimizer.state_dict(),
        "scheduler": session.scheduler.state_dict(), "scaler": session.scaler.state_dict(),
        # opt as plain JSON values, which torch.load(weights_only=True) accepts.
        "epoch": epoch + 1, "log": session.log, "opt": json.loads(json.dumps(opt)),
        "rng": {"torch": torch.get_rng_state()}})


# ------------------------------------------------------------------------------ epochs

def timed(device, work):
    """(work(), seconds), the device's queued work included."""
    synchronize(device)
    start = time.perf_counter()
    result = work()
    synchronize(device)
    return result, time.perf_counter() - start


def train_phase(session: Session, batches, epoch: int, opt: dict) -> dict:
    """One training epoch; its log entries (docs/reference.md §4)."""
    lr = session.optimizer.param_groups[0]["lr"]
    (loss, acc, n), sec = timed(opt["device"], lambda: train_epoch(
        session.model, session.step_model, batches, epoch, session.optimizer, session.scaler,
        session.autocast, opt["print_freq"]))
    session.scheduler.step()
    return dict(epoch=epoch, loss=loss, sec=sec, lr=lr, num_samples=n, acc=acc,
                er=100.0 * (1 - acc))


def validation_phase(session: Session, batches, epoch: int, opt: dict) -> dict:
    """The test set after an epoch; its log entries (lr -1 marks the phase)."""
    (loss, acc, n), sec = timed(opt["device"], lambda: evaluate(
        session.model, session.step_model, batches, session.autocast))
    if not math.isfinite(loss):
        raise TrainingDiverged(f"the test loss became {loss} after epoch {epoch}")
    return dict(epoch=epoch, sec=sec, lr=-1.0, val_loss=loss, val_num_samples=n, val_acc=acc,
                val_er=100.0 * (1 - acc))


def diverged_advice(folder: Path, opt: dict) -> str:
    """What a diverged run leaves and how to go on, true to the folder: a resume takes
    the same options (another --lr is refused as a different run), so the way out is a
    new start with a lower --lr over this folder's files."""
    again = f"start it again with a lower --lr (now {opt['lr']:g}) and --do_overwrite"
    if not (folder / rf.CHECKPOINT_FILE).is_file():
        return f"the run stopped before its first epoch ended, so there is no checkpoint: {again}"
    epoch = len(rf.read_checkpoint(folder).get("log", {}).get("val_er", []))
    amp = ", or with --amp off" if opt.get("amp", "off") != "off" else ""
    return ("the run stopped and its last good checkpoint is kept (after "
            f"{counted(epoch, 'epoch')}); "
            f"a resume with these options would diverge again: {again}{amp}")


def report_epoch(train: dict, val: dict) -> None:
    train_er = error_text(train["er"], train["num_samples"])
    test_er = error_text(val["val_er"], val["val_num_samples"])
    print(f"epoch {train['epoch']:3d}  lr {train['lr']:.4g}  loss {train['loss']:.4f}  "
          f"train er {train_er:>5}%  test er {test_er:>5}%  "
          f"({train['sec']:.1f}s + {val['sec']:.1f}s)", flush=True)


# -------------------------------------------------------------------------------- main

def train(opt: dict) -> int:
    """Train the run described by `opt` (see training.options); returns an exit code.

    Everything that can be refused (a busy or different run, a bad model, missing data)
    is refused before the first write."""
    folder = Path(opt["folder"])
    rf.refuse_if_busy(folder)
    if plan_run(opt).action == FINISHED:
        print(f"{folder}: already finished ({counted(opt['epochs'], 'epoch')}); nothing to do")
        return 0
    torch.manual_seed(opt["seed"])
    model = build_model_from_opt(opt)
    data = load_data(opt)
    # What it trains and tests on, recorded in opt.json: the folder and its checksums. A
    # resume on other data is refused here, before the folder is locked (or touched).
    opt = dict(opt, data=describe(catalog.data_set(opt["dataset"]).folder(), opt["dataset"]))
    plan_run(opt)
    with folder_locked(folder):
        plan = plan_run(opt)  # again: the folder may have changed before we held it
        if plan.action == FINISHED:
            print(f"{folder}: already finished ({counted(opt['epochs'], 'epoch')}); "
                  "nothing to do")
            return 0
        return run_epochs(recorded_options(opt, plan), plan, model, data)


def run_epochs(opt: dict, plan, model, data) -> int:
    folder = Path(opt["folder"])
    torch.set_num_threads(opt["num_threads"])
    check_writable(folder)
    rf.remove_temp_files(folder)
    session = build_session(opt, model)
    restore(session, folder, plan)
    num_params = count_parameters(session.model)
    rf.write_opt(folder, opt)
    rf.write_specs(folder, num_params)
    rf.write_log(folder, session.log)
    train_batches, test_batches = data
    print(f"{opt['model_type']} ({num_params:,} parameters) on {opt['device']}, "
          f"{opt['num_threads']} CPU threads: {len(train_batches.labels)} training / "
          f"{len(test_batches.labels)} test images, epochs {session.start_epoch}.."
          f"{opt['epochs'] - 1} -> {folder}", flush=True)

    for epoch in range(session.start_epoch, opt["epochs"]):
        try:
            train_entries = train_phase(session, train_batches, epoch, opt)
            rf.append_to_log(session.log, train_entries)
            rf.write_log(folder, session.log)
            val_entries = validation_phase(session, test_batches, epoch, opt)
        except TrainingDiverged as error:
            raise TrainingDiverged(f"{error}; {diverged_advice(folder, opt)}") from None
        rf.append_to_log(session.log, val_entries)
        rf.write_log(folder, session.log)
        save_checkpoint(folder, session, epoch, opt)
        report_epoch(train_entries, val_entries)

    rf.save_model(folder, plain_state_dict(session.model))
    images = (session.log.get("val_num_samples") or [10_000])[-1]   # CIFAR-10's test set
    last = error_text(session.log["val_er"][-1], images)
    print(f"finished: final test error {last}% -> "
          f"{folder / rf.MODEL_FILE}")
    return 0
